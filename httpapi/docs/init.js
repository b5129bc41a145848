// Renders the server's own OpenAPI document (relative to /core/v2/docs, so
// it also works behind a proxy that adds a path prefix). validatorUrl null:
// Swagger UI would otherwise ask an online validator about the document.
window.ui = SwaggerUIBundle({
  url: "openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  docExpansion: "list",
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
