// XEP-0202 Entity Time: the server's UTC time and its offset from UTC (XEP-0082 formats).
import { NS } from '../ns.ts';
import type { ModuleContext, WardenModule } from '../stanza/module-api.ts';
import { xml, type Element } from '../xml.ts';

/** XEP-0082 time zone offset: "+hh:mm" / "-hh:mm" ("Z" is allowed but the XEP's examples use "+00:00"). */
export function formatTzo(offsetMinutesEastOfUtc: number): string {
  const sign = offsetMinutesEastOfUtc < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutesEastOfUtc);
  const hh = String(Math.floor(abs / 60)).padStart(2, '0');
  const mm = String(abs % 60).padStart(2, '0');
  return `${sign}${hh}:${mm}`;
}

/** XEP-0082 DateTime in UTC, to the second: 2006-12-19T17:58:35Z. */
export function formatUtc(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** XEP-0202 <time/>; Date#getTimezoneOffset() counts minutes *west* of UTC, hence the minus. */
export function timeElement(now: Date): Element {
  return xml('time', { xmlns: NS.time }, xml('tzo', {}, formatTzo(-now.getTimezoneOffset())), xml('utc', {}, formatUtc(now)));
}

export function timeModule(clock: () => Date = () => new Date()): WardenModule {
  return {
    name: 'time',
    load(ctx: ModuleContext) {
      ctx.addFeature(NS.time);
      ctx.handleIq('get', NS.time, 'host', () => timeElement(clock()));
    },
  };
}
