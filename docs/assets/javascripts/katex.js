// Render math with the KaTeX copy the site serves itself (no CDN).
// Material's document$ fires on every page load, instant navigation included.
// The $ delimiters are for gallery pages: notebook Markdown keeps $...$.
// Code and its outputs are left alone (not the notebook's input areas,
// which hold its Markdown cells too).
document$.subscribe(({ body }) => {
  renderMathInElement(body, {
    delimiters: [
      { left: "$$", right: "$$", display: true },
      { left: "\\[", right: "\\]", display: true },
      { left: "\\(", right: "\\)", display: false },
      { left: "$", right: "$", display: false },
    ],
    ignoredClasses: ["highlight", "jp-InputArea-editor", "jp-OutputArea"],
    throwOnError: false,
  });
});
