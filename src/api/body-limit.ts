// Request body limits of the admin API. Its requests are small JSON objects, so every /api route
// reads at most API_BODY_LIMIT unless it declares its own `bodyLimit` (app.ts sets the default
// in an onRoute hook); the few that legitimately take more — a group's member list, a text for a
// rule dry run — say LARGE_BODY_LIMIT. A 413 names the limit that applied (errors.ts).

/** What an /api route reads when it declares no bodyLimit of its own. */
export const API_BODY_LIMIT = 64 * 1024;

/**
 * For the routes whose bodies are large by nature: PUT /groups/:name (up to 100 000 member
 * names) and POST /audit/scan (a message body of up to 262 144 characters, up to 4 UTF-8
 * octets each, as JSON).
 */
export const LARGE_BODY_LIMIT = 2 * 1024 * 1024;

/** Pure: a byte count as people read a limit: "64 KiB", "2 MiB", "1500 bytes". */
export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} bytes`;
}
