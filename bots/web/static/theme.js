// Runs before the page paints (loaded without defer): the theme the user chose, if any;
// otherwise the CSS follows the system's prefers-color-scheme.
"use strict";
try {
  const chosen = localStorage.getItem("oncall-theme");
  if (chosen === "dark" || chosen === "light") document.documentElement.dataset.theme = chosen;
} catch (e) { /* storage blocked: follow the system */ }
