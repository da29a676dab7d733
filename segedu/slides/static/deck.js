/* segedu's slides: load the deck's fonts, let MathJax typeset the deck, fit each slide's text
   into its frame, then start reveal.js. Everything this needs is served from the deck's own
   folder (lib/).

   Order matters. MathJax sizes each formula from the surrounding text's font (its ex height,
   measured when it typesets), and the fitting below measures the text: both must see the theme's
   font (Source Sans Pro), not the fallback that the browser uses while that font is still on its
   way. document.fonts.ready alone does not wait for it: a font is only requested once a layout
   needs it, so right after MathJax's typesetting nothing may be loading yet and the promise is
   already resolved. When the font arrived late (a busy machine, a slow disk or network), formulas
   were typeset at the fallback's size and slides fitted with the fallback's widths, and a slide
   that needed the smallest type overflowed once the real font came (06_metrics' per-class IoU,
   seen in CI). So the deck loads every font face of its stylesheets first, then typesets
   (MathJax's startup typesetting is off, deck.py), then waits for the fonts that the typeset
   math requested, then fits.

   Fitting: while a slide's content does not fit inside its 1280x720 frame (less the frame's
   padding), its type is made smaller, down to MIN_SCALE of the deck's size; a slide that still
   does not fit keeps overflowing (and tests/test_slides.py fails on it). Figures are not scaled
   here: CSS gives them the room their slide leaves. When the deck is ready, <html
   data-deck="ready"> says so (the tests and the PDF export wait for it). */
(function () {
  "use strict";

  var MIN_SCALE = 0.6;
  var STEP = 0.04;
  var size = window.SEGEDU_DECK || {width: 1280, height: 720};

  // Whether anything of the frame's content lies outside the frame's padding box, its content
  // area (MathJax's hidden copy for screen readers and empty boxes do not count).
  function overflows(frame) {
    if (frame.scrollHeight > frame.clientHeight + 1 || frame.scrollWidth > frame.clientWidth + 1) {
      return true;
    }
    var box = frame.getBoundingClientRect();
    var style = window.getComputedStyle(frame);
    var left = box.left + parseFloat(style.paddingLeft);
    var right = box.right - parseFloat(style.paddingRight);
    var top = box.top + parseFloat(style.paddingTop);
    var bottom = box.bottom - parseFloat(style.paddingBottom);
    var all = frame.querySelectorAll("*");
    for (var i = 0; i < all.length; i++) {
      var r = all[i].getBoundingClientRect();
      if (r.width > 0 && r.height > 0 && !all[i].closest("mjx-assistive-mml")
          && (r.right > right + 1 || r.bottom > bottom + 1 || r.left < left - 1 || r.top < top - 1)) {
        return true;
      }
    }
    return false;
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

  // Every font face that the deck's stylesheets declare (the theme's text font), loaded now;
  // MathJax's own faces (MJX*) are left to MathJax: it sizes its glyphs from its own tables.
  function loadTextFonts() {
    if (!document.fonts) return Promise.resolve();
    var faces = [];
    document.fonts.forEach(function (face) {
      if (!/^["']?MJX/.test(face.family)) faces.push(face.load().catch(function () {}));
    });
    return Promise.all(faces);
  }

  async function start() {
    await loadTextFonts();
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
      await MathJax.startup.promise;
      await MathJax.typesetPromise();
    }
    if (document.fonts && document.fonts.ready) {
      void document.body.offsetHeight;  // a layout, so that the typeset math requests its fonts
      await document.fonts.ready;
    }
    await Promise.all(Array.prototype.map.call(document.images, settled));
    var deck = document.querySelector(".reveal");
    document.querySelectorAll(".reveal .frame").forEach(fit);
    deck.classList.remove("measuring");
    // In the print view (?print-pdf) reveal.js lays the pages out after its 'ready' event, in
    // later animation frames, and says so with 'pdf-ready': the deck is ready only then.
    var printing = /print-pdf/i.test(window.location.search);
    var laidOut = printing
      ? new Promise(function (resolve) { Reveal.on("pdf-ready", resolve); })
      : Promise.resolve();
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
    await laidOut;
    document.documentElement.setAttribute("data-deck", "ready");
  }

  window.addEventListener("load", function () {
    start().catch(function (error) {
      console.error("segedu deck: " + error);
    });
  });
})();
