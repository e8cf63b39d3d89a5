// A block that scrolls sideways (a wide table, a long line of code, a wide
// equation) must be reachable by keyboard to be scrolled: it gets a tab
// stop, and only such a block does. Checked again once fonts have loaded
// (KaTeX's widen equations) and when the window is resized.
function focusScrollers() {
  const blocks = document.querySelectorAll(
    ".md-typeset__scrollwrap, .md-typeset pre, .jupyter-wrapper pre, " +
    ".md-typeset div.arithmatex");
  for (const block of blocks) {
    if (block.scrollWidth > block.clientWidth + 1) {
      block.setAttribute("tabindex", "0");
    } else if (block.matches("div.arithmatex, .md-typeset__scrollwrap")) {
      block.removeAttribute("tabindex");
    }
  }
}
document$.subscribe(() => {
  focusScrollers();
  document.fonts.ready.then(focusScrollers);
});
window.addEventListener("resize", focusScrollers);
