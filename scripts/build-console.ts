// Builds the web console (console/src → console/dist) with esbuild: one JS bundle (Preact + TSX)
// and one CSS file, both with content-hashed names, and index.html pointing at them.
// Runs from `npm install` (postinstall) and `npm start` (prestart); takes well under a second.
//
//   node --import tsx scripts/build-console.ts            build once
//   node --import tsx scripts/build-console.ts --watch    rebuild on change (development)
//
// The new build is written to a temporary folder and swapped in with a rename, so a running
// server never serves half a build.
import { build, context, type BuildOptions, type Metafile } from 'esbuild';
import { copyFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CONSOLE_DIR = fileURLToPath(new URL('../console/', import.meta.url));
const DIST_DIR = join(CONSOLE_DIR, 'dist');
/** Copied as they are (no hash: index.html names them directly). */
const STATIC_FILES = ['favicon.svg'];

function esbuildOptions(outdir: string): BuildOptions & { metafile: true } {
  return {
    absWorkingDir: CONSOLE_DIR,
    entryPoints: { app: 'src/main.tsx', console: 'src/console.css' },
    entryNames: '[name]-[hash]',
    outdir,
    bundle: true,
    format: 'esm',
    // Debian's chromium and any browser of the last few years.
    target: ['es2022', 'chrome109', 'firefox115', 'safari16'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    minify: true,
    sourcemap: 'linked',
    metafile: true,
    legalComments: 'none',
    logLevel: 'warning',
  };
}

/** The hashed output name of entry `name` ("app" → "app-3F2A1CQX.js"). */
function outputOf(metafile: Metafile, entry: string): string {
  for (const [path, output] of Object.entries(metafile.outputs)) {
    if (output.entryPoint === entry) return basename(path);
  }
  throw new Error(`esbuild wrote no output for ${entry}`);
}

async function writeIndex(outdir: string, metafile: Metafile): Promise<void> {
  const template = await readFile(join(CONSOLE_DIR, 'index.html'), 'utf8');
  const html = template.replace('%APP_JS%', outputOf(metafile, 'src/main.tsx')).replace('%CONSOLE_CSS%', outputOf(metafile, 'src/console.css'));
  await writeFile(join(outdir, 'index.html'), html);
  for (const file of STATIC_FILES) await copyFile(join(CONSOLE_DIR, file), join(outdir, file));
}

export async function buildConsole(): Promise<{ ms: number }> {
  const started = performance.now();
  const staging = join(CONSOLE_DIR, `.dist-${process.pid}`);
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  try {
    const result = await build(esbuildOptions(staging));
    await writeIndex(staging, result.metafile);
    await rm(DIST_DIR, { recursive: true, force: true });
    await rename(staging, DIST_DIR);
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    throw err;
  }
  return { ms: Math.round(performance.now() - started) };
}

async function watch(): Promise<void> {
  await mkdir(DIST_DIR, { recursive: true });
  const ctx = await context({
    ...esbuildOptions(DIST_DIR),
    plugins: [
      {
        name: 'index-html',
        setup(b) {
          b.onEnd(async (result) => {
            if (result.metafile) await writeIndex(DIST_DIR, result.metafile);
            console.log(`console rebuilt (${result.errors.length} errors)`);
          });
        },
      },
    ],
  });
  await ctx.watch();
  console.log('watching console/src for changes');
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (process.argv.includes('--watch')) {
    await watch();
  } else {
    const { ms } = await buildConsole();
    console.log(`console built into console/dist in ${ms} ms`);
  }
}
