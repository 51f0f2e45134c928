// The interactive API reference: Swagger UI 5 (from fastapi-swagger, served by this server) on this server's OpenAPI document.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  window.SwaggerUIBundle({ url: "/api/v1/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
});
