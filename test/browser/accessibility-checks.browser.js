// Runs inside a page of the browser tests: test/browser/pages.test.ts passes this file's text to
// page.evaluate, so it is plain browser JavaScript, outside the TypeScript build. It evaluates
// to the list of accessibility problems that it finds; an empty list means every check passed.
(() => {
  const problems = [];
  if (document.documentElement.lang !== "en") {
    problems.push(`html lang is "${document.documentElement.lang}", expected "en"`);
  }
  if (document.title.trim() === "") problems.push("the page has no title");
  if (document.querySelectorAll("main").length !== 1) problems.push("expected one <main>");
  if (document.querySelectorAll("body > header").length !== 1) {
    problems.push("expected one page <header> (banner landmark)");
  }

  // Headings: one h1, first, and no level skipped on the way down.
  const levels = Array.from(document.querySelectorAll("h1, h2, h3, h4, h5, h6")).map((heading) =>
    Number(heading.tagName.slice(1)),
  );
  if (levels.filter((level) => level === 1).length !== 1) problems.push("expected one <h1>");
  if (levels[0] !== 1) problems.push(`the first heading is h${levels[0]}, expected h1`);
  for (let index = 1; index < levels.length; index += 1) {
    if (levels[index] > levels[index - 1] + 1) {
      problems.push(`heading h${levels[index]} follows h${levels[index - 1]}`);
    }
  }

  // Every control has a name, and every visible input a label.
  for (const control of Array.from(document.querySelectorAll("a[href], button"))) {
    const name = (control.getAttribute("aria-label") ?? control.textContent ?? "").trim();
    if (name === "") problems.push(`a ${control.tagName.toLowerCase()} has no accessible name`);
  }
  for (const input of Array.from(document.querySelectorAll("input, select, textarea"))) {
    if (input.type === "hidden") continue;
    const labelled =
      input.labels?.length ||
      input.getAttribute("aria-label") ||
      input.getAttribute("aria-labelledby");
    if (!labelled) problems.push(`input "${input.getAttribute("name")}" has no label`);
  }

  // Text contrast (WCAG 2.2 AA): 4.5:1, or 3:1 for large text, against the nearest opaque
  // background of an ancestor.
  const parse = (color) => {
    const parts = color.match(/[\d.]+/g)?.map(Number) ?? [0, 0, 0];
    return [parts[0] ?? 0, parts[1] ?? 0, parts[2] ?? 0, parts[3] ?? 1];
  };
  const luminance = ([r, g, b]) => {
    const channel = (value) => {
      const c = value / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    };
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  };
  const backgroundOf = (element) => {
    for (let current = element; current; current = current.parentElement) {
      const background = parse(getComputedStyle(current).backgroundColor);
      if (background[3] > 0.99) return background;
    }
    return [255, 255, 255, 1];
  };
  for (const element of Array.from(document.body.querySelectorAll("*"))) {
    const ownText = Array.from(element.childNodes)
      .filter((node) => node.nodeType === Node.TEXT_NODE)
      .map((node) => node.textContent ?? "")
      .join("")
      .trim();
    if (ownText === "" || element.closest(".visually-hidden")) continue;
    const rect = element.getBoundingClientRect();
    if (rect.width === 0 || rect.height === 0) continue;
    const style = getComputedStyle(element);
    const foreground = luminance(parse(style.color));
    const background = luminance(backgroundOf(element));
    const ratio =
      (Math.max(foreground, background) + 0.05) / (Math.min(foreground, background) + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) {
      problems.push(`contrast ${ratio.toFixed(2)}:1 for "${ownText.slice(0, 40)}"`);
    }
  }
  return problems;
})();
