/* segedu's slides: wait for MathJax to typeset the deck, fit each slide's text into its frame,
   then start reveal.js. Everything this needs is served from the deck's own folder (lib/).

   Fitting: while a slide's content is larger than its 1280x720 frame, its type is made smaller,
   down to MIN_SCALE of the deck's size; a slide that still does not fit keeps overflowing (and
   tests/test_slides.py fails on it). Figures are not scaled here: CSS gives them the room their
   slide leaves. When the deck is ready, <html data-deck="ready"> says so (the tests and the PDF
   export wait for it). */
(function () {
  "use strict";

  var MIN_SCALE = 0.6;
  var STEP = 0.04;
  var size = window.SEGEDU_DECK || {width: 1280, height: 720};

  function overflows(frame) {
    return frame.scrollHeight > frame.clientHeight + 1 || frame.scrollWidth > frame.clientWidth + 1;
  }

  function fit(frame) {
    var scale = 1;
    frame.style.fontSize = "";
    while (overflows(frame) && scale > MIN_SCALE + 1e-6) {
      scale = Math.max(MIN_SCALE, scale - STEP);
      frame.style.fontSize = Math.round(scale * 100) + "%";
    }
    frame.setAttribute("data-scale", scale.toFixed(2));
  }

  function settled(img) {
    if (img.complete) return Promise.resolve();
    return new Promise(function (resolve) {
      img.addEventListener("load", resolve, {once: true});
      img.addEventListener("error", resolve, {once: true});
    });
  }

  async function start() {
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
      await MathJax.startup.promise;
    }
    if (document.fonts && document.fonts.ready) await document.fonts.ready;
    await Promise.all(Array.prototype.map.call(document.images, settled));
    var deck = document.querySelector(".reveal");
    document.querySelectorAll(".reveal .frame").forEach(fit);
    deck.classList.remove("measuring");
    await Reveal.initialize({
      width: size.width,
      height: size.height,
      margin: 0.04,
      center: false,
      hash: true,
      transition: "none",
      backgroundTransition: "none",
      slideNumber: "c/t",
      pdfMaxPagesPerSlide: 1,
      pdfSeparateFragments: false,
      plugins: [RevealNotes]
    });
    document.documentElement.setAttribute("data-deck", "ready");
  }

  window.addEventListener("load", function () {
    start().catch(function (error) {
      console.error("segedu deck: " + error);
    });
  });
})();
