// Starts Swagger UI on /openapi.json. A file of its own (not inline) so the page's
// Content-Security-Policy can forbid inline scripts.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
