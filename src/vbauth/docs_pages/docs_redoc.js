"use strict";
// ReDoc on vbauth's own OpenAPI document. Its <style> elements carry this response's nonce,
// which the page gave this script (the CSP allows styles from 'self' and that nonce only).
document.body.style.margin = "0";
Redoc.init(
  "/openapi.json",
  {nonce: document.currentScript.nonce},
  document.getElementById("redoc"),
);
