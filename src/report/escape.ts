// HTML/XML text and attribute escaping: every string from a run (node ids, params, metric names,
// error messages) passes through here before it reaches report markup.
const ENTITIES: Readonly<Record<string, string>> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }

export const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c)
