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
// then reloads the page, or goes to data-next with {id} taken from the answer. Fields marked
// data-list (checkboxes, hidden inputs) of one name make a list. With data-changed-only the form
// sends only the fields whose value differs from the page's (a correction names what it fixes).
function fieldsOf(form) {
  const body = {};
  for (const field of form.elements) {
    if (!field.name) continue;
    if (field.hasAttribute("data-list")) {
      if (!(field.name in body)) body[field.name] = [];
      if (field.type !== "checkbox" || field.checked) body[field.name].push(field.value);
    } else if (field.type === "checkbox") body[field.name] = field.checked;
    else if (field.value !== "" || field.hasAttribute("data-send-empty")) body[field.name] = field.value;
  }
  return body;
}

function changedFields(form, initial) {
  const now = fieldsOf(form);
  const same = (a, b) => JSON.stringify(Array.isArray(a) ? [...a].sort() : a)
    === JSON.stringify(Array.isArray(b) ? [...b].sort() : b);
  const keep = form.dataset.alwaysSend ? form.dataset.alwaysSend.split(" ") : [];
  return Object.fromEntries(Object.entries(now).filter(([name, value]) => keep.includes(name)
                                                       || !same(value, initial[name])));
}

function onApiForm(form) {
  const initial = fieldsOf(form);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = form.querySelector(".form-error");
    try {
      const method = form.dataset.method;
      const body = form.hasAttribute("data-changed-only") ? changedFields(form, initial) : fieldsOf(form);
      const data = await api(method, form.dataset.path, method === "DELETE" ? undefined : body);
      const next = form.dataset.next;
      if (next) window.location.assign(next.replace("{id}", encodeURIComponent(data.id)));
      else window.location.reload();
    } catch (failure) {
      error.textContent = failure.message;
      error.hidden = false;
    }
  });
}

// The search page's facet panel and timeline come after its hits (counting over a whole result
// costs far more than a page of it): the server renders them as an HTML fragment, escaped like
// every page; DOMParser runs no script in what it parses. Without script, the page links to
// itself with the facets inline instead.
async function loadFacets(panel) {
  const response = await fetch(panel.dataset.src, {credentials: "same-origin"});
  if (!response.ok || response.redirected) return;  // the link to the page with facets stays
  const fragment = new DOMParser().parseFromString(await response.text(), "text/html");
  panel.replaceChildren(...fragment.body.childNodes);
  panel.querySelectorAll(".group-sizes li").forEach((group) => {
    document.querySelectorAll(`.reposts[data-group="${CSS.escape(group.dataset.group)}"]`).forEach((badge) => {
      badge.querySelector(".group-size").textContent = group.dataset.count;
      badge.hidden = false;
    });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const panel = document.getElementById("facet-panel");
  if (panel && panel.dataset.src) loadFacets(panel).catch(() => null);
  const login = document.getElementById("login-form");
  if (login) onLogin(login);
  const logout = document.getElementById("logout");
  if (logout) onLogout(logout);
  const add = document.getElementById("user-add");
  if (add) onUserAdd(add);
  document.querySelectorAll("form.user-change").forEach(onUserChange);
  document.querySelectorAll("form.api").forEach(onApiForm);
});
