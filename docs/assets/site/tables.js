// Marks each table wrapper that is wider than the screen, so that the stylesheet can say it scrolls.
(function () {
  function mark() {
    document.querySelectorAll(".md-typeset__scrollwrap").forEach(function (wrap) {
      if (wrap.scrollWidth > wrap.clientWidth + 1) { wrap.setAttribute("data-wide", ""); }
      else { wrap.removeAttribute("data-wide"); }
    });
  }
  window.addEventListener("load", mark);
  window.addEventListener("resize", mark);
})();
