export const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const found = document.getElementById(id);
  if (!found) throw new Error(`#${id} is missing from the page`);
  return found as T;
};

/** Builds an element; text always goes in as text, so nothing a receiver answered can run as HTML. */
export function el(tag: string, attributes: Record<string, string> = {}, ...children: Array<Node | string | null>): HTMLElement {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  for (const child of children) if (child !== null) element.append(child);
  return element;
}
