// Shared by the chat page and the console: everything a client wrote is put in the page as text
// (textContent), never as markup.

/** A new element with text (set as text) and optional class. */
export function el(tag, text, className) {
  const node = document.createElement(tag)
  if (text !== undefined && text !== null) node.textContent = String(text)
  if (className) node.className = className
  return node
}

/** "1.2 kB", "3 B" */
export function bytes(n) {
  if (n < 1000) return `${n} B`
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`
  if (n < 1e9) return `${(n / 1e6).toFixed(1)} MB`
  return `${(n / 1e9).toFixed(2)} GB`
}

/** HH:MM:SS.mmm, local time. */
export function clock(ms) {
  const d = new Date(ms)
  const p = (n, w = 2) => String(n).padStart(w, '0')
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`
}

/** The ws:// address of a path on this server. */
export function socketUrl(path) {
  const url = new URL(path, location.href)
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:'
  return url.href
}

/** Appends `item` to list `ol`, keeping at most `max` items, and keeps the list scrolled to the end if it was. */
export function appendKept(ol, item, max, scroller = ol.parentElement) {
  const atEnd = !scroller || scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40
  ol.append(item)
  while (ol.children.length > max) ol.firstElementChild.remove()
  if (scroller && atEnd) scroller.scrollTop = scroller.scrollHeight
}
