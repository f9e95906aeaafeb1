/**
 * Topic patterns select observations by `source.kind`, each side an exact name, `*`, or a
 * glob with `*` anywhere (`pi.*`, `*.q_drop`, `pi.q_*`, `*`). A pattern without a dot matches
 * the source only (`pi` = `pi.*`).
 */
export type TopicMatcher = (source: string, kind: string) => boolean;

function part(glob: string): (s: string) => boolean {
  if (glob === '*' || glob === '') return () => true;
  if (!glob.includes('*')) return (s) => s === glob;
  const re = new RegExp('^' + glob.split('*').map(escapeRegExp).join('.*') + '$');
  return (s) => re.test(s);
}

export function compileTopic(pattern: string): TopicMatcher {
  if (pattern === '*' || pattern === '*.*') return () => true;
  const dot = pattern.indexOf('.');
  const src = part(dot < 0 ? pattern : pattern.slice(0, dot));
  const kind = part(dot < 0 ? '*' : pattern.slice(dot + 1));
  return (s, k) => src(s) && kind(k);
}

export function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
