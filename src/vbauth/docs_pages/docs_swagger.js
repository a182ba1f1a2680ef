"use strict";
// Swagger UI on vbauth's own OpenAPI document (FastAPI's defaults, from a file: the page's CSP
// runs no inline script).
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  // No validator badge: it would send the document's address to validator.swagger.io.
  validatorUrl: null,
});
