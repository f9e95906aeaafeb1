/** Text made safe inside HTML text and attribute values. */
export function esc(s: string | number): string {
  // CR as a reference: the HTML parser would turn a literal one into LF.
  return String(s).replace(/[&<>"'\r]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '\r': '&#13;' })[c]!);
}
