// Render math with the KaTeX copy the site serves itself (no CDN), loaded
// only on pages that have math: KaTeX is about 300 KB, and most gallery
// pages have none.
// Material's document$ fires on every page load, instant navigation included.
// The $ delimiters are for gallery pages: notebook Markdown keeps $...$.
// Code and its outputs are left alone (not the notebook's input areas,
// which hold its Markdown cells too).
const katexBase = new URL("../katex/", document.currentScript.src);
let katexLoaded = null;

function loadKatex() {
  const add = (tag, attributes) => new Promise((resolve, reject) => {
    const element = Object.assign(document.createElement(tag), attributes);
    element.onload = resolve;
    element.onerror = reject;
    document.head.appendChild(element);
  });
  katexLoaded ??= add("link", {
    rel: "stylesheet", href: new URL("katex.min.css", katexBase).href,
  }).then(() => add("script", {
    src: new URL("katex.min.js", katexBase).href,
  })).then(() => add("script", {
    src: new URL("contrib/auto-render.min.js", katexBase).href,
  }));
  return katexLoaded;
}

function hasMath(body) {
  if (body.querySelector(".arithmatex")) return true;
  return [...body.querySelectorAll(".jp-RenderedMarkdown")].some(
    (cell) => /\$|\\\(|\\\[/.test(cell.textContent));
}

document$.subscribe(({ body }) => {
  if (!hasMath(body)) return;
  loadKatex().then(() => renderMathInElement(body, {
    delimiters: [
      { left: "$$", right: "$$", display: true },
      { left: "\\[", right: "\\]", display: true },
      { left: "\\(", right: "\\)", display: false },
      { left: "$", right: "$", display: false },
    ],
    ignoredClasses: ["highlight", "jp-InputArea-editor", "jp-OutputArea"],
    throwOnError: false,
  })).then(() => {
    // equations rendered now may scroll sideways: give those a tab stop
    // (scroll-focus.js), now and once KaTeX's fonts have loaded
    if (typeof focusScrollers === "function") {
      focusScrollers();
      document.fonts.ready.then(focusScrollers);
    }
  });
});
