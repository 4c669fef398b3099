// The pages' only script (the Content-Security-Policy forbids inline script). It talks to the same
// JSON API as any other client, sending the session's CSRF token with every change.
"use strict";

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

async function api(method, path, body) {
  const response = await fetch(path, {
    method: method,
    credentials: "same-origin",
    headers: {"Content-Type": "application/json", "X-CSRF-Token": csrfToken()},
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail || response.status);
    throw new Error(detail);
  }
  return data;
}

function showError(id, error) {
  const element = document.getElementById(id);
  element.textContent = error.message;  // textContent: a message never becomes markup
  element.hidden = false;
}

function onLogin(form) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api("POST", "/api/login", {username: form.username.value, password: form.password.value});
      const next = form.dataset.next || "/search";
      window.location.assign(next.startsWith("/") && !next.startsWith("//") ? next : "/search");
    } catch (error) {
      showError("login-error", error);
    }
  });
}

function onLogout(button) {
  button.addEventListener("click", async () => {
    await api("POST", "/api/logout").catch(() => null);
    window.location.assign("/login");
  });
}

function onUserAdd(form) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = Array.from(form.querySelectorAll('input[name="institutions"]:checked'), (box) => box.value);
    try {
      await api("POST", "/api/users", {name: form.name.value, password: form.password.value, role: form.role.value,
                                       institutions: chosen.length ? chosen : null});
      window.location.reload();
    } catch (error) {
      showError("admin-error", error);
    }
  });
}

function onUserChange(form) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api("PATCH", "/api/users/" + encodeURIComponent(form.dataset.user),
                {role: form.role.value, disabled: form.disabled.value === "true"});
      window.location.reload();
    } catch (error) {
      showError("admin-error", error);
    }
  });
}

// A form that calls the API: <form class="api" data-method="POST" data-path="/api/..."> sends its
// named fields as JSON (empty ones left out, unless the field has data-send-empty: "no handler"),
// then reloads the page, or goes to data-next with {id} taken from the answer.
function fieldsOf(form) {
  const body = {};
  for (const field of form.elements) {
    if (!field.name) continue;
    if (field.type === "checkbox") body[field.name] = field.checked;
    else if (field.value !== "" || field.hasAttribute("data-send-empty")) body[field.name] = field.value;
  }
  return body;
}

function onApiForm(form) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = form.querySelector(".form-error");
    try {
      const method = form.dataset.method;
      const data = await api(method, form.dataset.path, method === "DELETE" ? undefined : fieldsOf(form));
      const next = form.dataset.next;
      if (next) window.location.assign(next.replace("{id}", encodeURIComponent(data.id)));
      else window.location.reload();
    } catch (failure) {
      error.textContent = failure.message;
      error.hidden = false;
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const login = document.getElementById("login-form");
  if (login) onLogin(login);
  const logout = document.getElementById("logout");
  if (logout) onLogout(logout);
  const add = document.getElementById("user-add");
  if (add) onUserAdd(add);
  document.querySelectorAll("form.user-change").forEach(onUserChange);
  document.querySelectorAll("form.api").forEach(onApiForm);
});
