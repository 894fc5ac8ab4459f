// stonith GUI: checks of the device form (as stonith/contract/validation.py checks), array rows, test
// connection and save through /api/v1, live node states from the event stream, the fence dialog.
// Plain script, no framework; every text comes translated from the page (#strings).
"use strict";
(function () {
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  const jsonOf = (id) => { const el = document.getElementById(id); return el ? JSON.parse(el.textContent) : {}; };
  const S = jsonOf("strings");
  const t = (key) => S[key] || key;
  const csrf = document.body.dataset.csrf || "";

  async function api(method, url, body) {
    const init = { method, credentials: "same-origin", headers: { "X-CSRF-Token": csrf } };
    if (body !== undefined) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    let response;
    try { response = await fetch(url, init); } catch (e) { return { status: 0, data: { error: t("no_answer") } }; }
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (response.status === 401) { location.assign("/ui/login?next=" + encodeURIComponent(location.pathname + location.search)); }
    return { status: response.status, data: data || {} };
  }

  // -- checks, mirroring stonith.contract.validation (the server checks again) ---------------------------
  const SPECIAL = jsonOf("special-regex");
  const TRUE_WORDS = ["1", "yes", "on", "true", "y"], FALSE_WORDS = ["0", "no", "off", "false", "n"];
  const UNITS = [["ms", 0.001], ["min", 60], ["s", 1], ["m", 60], ["h", 3600]];
  const full = (re) => { try { return new RegExp("^(?:" + re + ")$"); } catch (e) { return null; } };
  const control = (s) => /[\x00-\x1f\x7f]/.test(s);
  const matches = (re, v) => { const r = full(re); return r === null || r.test(v); };

  function number(text, seconds) {
    let n = text.trim(), factor = 1;
    if (seconds) {
      for (const [unit, f] of UNITS) {
        if (n.endsWith(unit) && n.slice(0, -unit.length).trim()) { n = n.slice(0, -unit.length).trim(); factor = f; break; }
      }
    }
    if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(n)) return null;
    const v = parseFloat(n) * factor;
    return Number.isFinite(v) ? v : null;
  }

  function ipv6(v) { try { new URL("http://[" + v + "]/"); return v.includes(":"); } catch (e) { return false; } }
  function ipv4(v) { return matches(SPECIAL.regex.ipv4, v); }
  function hostname(v) { return v.length <= 253 && matches(SPECIAL.regex.hostname, v); }

  function special(kind, v) {
    if (kind === "ipv4") return ipv4(v) ? null : t("not_ipv4");
    if (kind === "ipv6") return ipv6(v) ? null : t("not_ipv6");
    if (kind === "hostname") return hostname(v) ? null : t("not_hostname");
    if (kind === "hostport") {
      if (!matches(SPECIAL.regex.hostport, v)) return t("not_hostport");
      let host = v, port = 1;
      if (v.startsWith("[")) { const end = v.indexOf("]"); host = v.slice(1, end); const rest = v.slice(end + 1); if (rest.startsWith(":")) port = Number(rest.slice(1)); }
      else if ((v.match(/:/g) || []).length === 1) { [host, port] = [v.split(":")[0], Number(v.split(":")[1])]; }
      if (!Number.isInteger(port)) return t("bad_port");
      if (port < 1 || port > 65535) return t("port_range");
      return hostname(host) || ipv4(host) || ipv6(host) ? null : t("not_hostport");
    }
    if (kind === "tty") {
      if (v.startsWith("/")) return null;
      const i = v.indexOf("://");
      return i > 0 && SPECIAL.serial_schemes.includes(v.slice(0, i)) ? null : t("not_tty");
    }
    if (SPECIAL.regex[kind] !== undefined && !matches(SPECIAL.regex[kind], v)) return t("not_valid") + " (" + kind + ")";
    return null;  // a specialtype this page does not know: basictype, regex and length only
  }

  // One scalar: [typed value, problem or null].
  function scalar(d, raw) {
    if (control(raw)) return [null, t("control_chars")];
    const kind = d.basictype;
    if (kind === "boolean") {
      const w = raw.trim().toLowerCase();
      if (TRUE_WORDS.includes(w)) return [true, null];
      if (FALSE_WORDS.includes(w)) return [false, null];
      return [null, t("not_boolean")];
    }
    if (kind === "integer" || kind === "float" || kind === "seconds") {
      let v;
      if (kind === "integer") v = /^[+-]?\d+$/.test(raw.trim()) ? parseInt(raw.trim(), 10) : null;
      else v = number(raw, kind === "seconds");
      if (v === null) return [null, t(kind === "integer" ? "not_integer" : "not_number")];
      if (d.min !== undefined && v < Number(d.min)) return [null, t("below_min") + " " + d.min];
      if (d.max !== undefined && v > Number(d.max)) return [null, t("above_max") + " " + d.max];
      return [v, null];
    }
    if (kind === "enumeration") {
      const choices = JSON.parse(d.enum || "[]");
      const hit = choices.find((c) => c === raw) || choices.find((c) => c.toLowerCase() === raw.toLowerCase());
      return hit === undefined ? [null, t("not_in_set") + " " + choices.join(", ")] : [hit, null];
    }
    if (d.length !== undefined && raw.length > Number(d.length)) return [null, t("too_long") + " " + d.length];
    if (d.regex && !matches(d.regex, raw)) return [null, t("no_match") + " " + d.regex];
    if (d.specialtype) { const p = special(d.specialtype, raw); if (p) return [null, p]; }
    return [raw, null];
  }

  const fieldsIn = (box) => $$(":scope > .field", box);

  // The value of a field element and the problems found: {value, problems: [[element, text]]}.
  function collect(el) {
    const d = el.dataset, problems = [];
    if (d.kind === "array") {
      const items = [];
      for (const row of $$(":scope > ol.rows > li.row", el)) {
        const item = $(":scope > .item", row);
        if (item) {
          const got = struct(item, el);
          problems.push(...got.problems);
          if (got.value !== null) items.push(got.value);
          continue;
        }
        const input = $(":scope > .value", row);
        if (input.value === "") continue;
        const [v, p] = scalar(d, input.value);
        if (p) problems.push([el, p]); else items.push(v);
      }
      if (d.minelem && items.length < Number(d.minelem)) problems.push([el, t("min_items") + " " + d.minelem]);
      if (d.maxelem && items.length > Number(d.maxelem)) problems.push([el, t("max_items") + " " + d.maxelem]);
      if (d.required && !items.length && !problems.length) problems.push([el, t("required")]);
      return { value: items.length ? items : null, problems };
    }
    if (d.kind === "struct") return struct(el, el);
    const input = $(":scope > .value", el);
    if (input.value === "") {
      if (d.required && !d.saved) problems.push([el, t("required")]);
      return { value: null, problems };
    }
    const [v, p] = scalar(d, input.value);
    if (p) problems.push([el, p]);
    return { value: p ? null : v, problems };
  }

  function struct(box, owner) {
    const value = {}, problems = [];
    let any = false;
    for (const f of fieldsIn(box)) {
      const got = collect(f);
      problems.push(...got.problems);
      if (got.value !== null) { value[f.dataset.name] = got.value; any = true; }
    }
    if (!any) return { value: null, problems: [] };  // an empty row of an array: left out
    return { value, problems };
  }

  function clearErrors(form) {
    for (const p of $$("p.error", form)) { p.textContent = ""; p.hidden = true; }
    for (const el of $$(".invalid", form)) el.classList.remove("invalid");
    for (const el of $$("[aria-invalid]", form)) el.removeAttribute("aria-invalid");
  }

  function showError(el, text) {
    const p = $(":scope > p.error", el);
    if (!p) return;
    p.textContent = p.textContent ? p.textContent + "; " + text : text;
    p.hidden = false;
    el.classList.add("invalid");
    const input = $(":scope > .value", el) || $(".value", el);
    if (input) input.setAttribute("aria-invalid", "true");
  }

  // Values of every field of one section (data-top), keyed by name.
  function section(form, name) {
    const box = $(`[data-top="${name}"]`, form);
    const values = {}, problems = [];
    if (!box) return { values, problems, fields: [] };
    const fields = fieldsIn(box);
    for (const f of fields) {
      const got = collect(f);
      problems.push(...got.problems);
      values[f.dataset.name] = got.value;
    }
    return { values, problems, fields };
  }

  function report(form, problems) {
    for (const [el, text] of problems) showError(el, text);
    if (problems.length) { const first = $(".invalid .value", form) || $(".invalid", form); if (first && first.focus) first.focus(); }
  }

  // Problems from the server (BadConfig): "file:parameters.ipaddr", "hosts.node1", "ipaddr".
  function serverProblems(form, data) {
    const shown = [];
    for (const p of data.problems || []) {
      let name = String(p.field || "").split(":").pop().replace(/^(parameters|secrets)\./, "");
      name = name.split(".")[0];
      const el = $(`[data-top] > .field[data-name="${CSS.escape(name)}"]`, form);
      if (el) showError(el, p.message); else shown.push((p.field ? p.field + ": " : "") + p.message);
    }
    return shown.join("; ") || (data.problems && data.problems.length ? "" : data.error || "");
  }

  function deviceForm(form) {
    const type = form.dataset.type, device = form.dataset.device || null;
    const outcome = $(".outcome", form);
    const say = (text, kind) => { outcome.textContent = text; outcome.className = "outcome " + (kind || ""); };

    function parameters(forSave) {
      const got = section(form, "parameters");
      const config = {};
      for (const f of got.fields) {
        const v = got.values[f.dataset.name];
        if (v === null && f.dataset.specialtype === "secret" && f.dataset.saved) continue;  // kept as saved
        if (v !== null || (forSave && device)) config[f.dataset.name] = v;
      }
      return { config, problems: got.problems };
    }

    function checked(forSave) {
      clearErrors(form);
      const params = parameters(forSave);
      const place = device ? { values: {}, problems: [] } : section(form, "placement");
      const problems = [...params.problems, ...place.problems];
      report(form, problems);
      if (problems.length) say(t("fix_fields"), "bad");
      return problems.length ? null : { config: params.config, place: place.values };
    }

    $(".check", form).addEventListener("click", async () => {
      const got = checked(false);
      if (!got) return;
      say(t("checking"));
      const r = await api("POST", `/api/v1/types/${encodeURIComponent(type)}/validate`, { config: got.config });
      if (r.status === 200 && r.data.ok) say(t("valid"), "good");
      else { const rest = serverProblems(form, r.data); say(t("fix_fields") + (rest ? " " + rest : ""), "bad"); }
    });

    $(".probe", form).addEventListener("click", async () => {
      const got = checked(false);
      if (!got) return;
      say(t("testing"));
      const r = await api("POST", `/api/v1/types/${encodeURIComponent(type)}/probe`, { config: got.config, device });
      if (r.status === 200 && r.data.ok) {
        say(`${t("connected")}: ${r.data.identity} — ${r.data.outlets.length} ${t("outlets")}, ${Math.round(r.data.latency * 1000)} ms`, "good");
      } else if (r.status === 200) {
        say(`${t("refused")}: ${r.data.error}`, "bad");
      } else if (r.status === 400) {
        const rest = serverProblems(form, r.data); say(t("fix_fields") + (rest ? " " + rest : ""), "bad");
      } else say(`${t("failed")}: ${r.data.error || r.status}`, "bad");
    });

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const got = checked(true);
      if (!got) return;
      say(t("saving"));
      let r;
      if (device) {
        r = await api("PATCH", `/api/v1/devices/${encodeURIComponent(device)}`, { changes: got.config, version: form.dataset.version });
      } else {
        const spec = { name: got.place.name, type, parameters: got.config };
        for (const key of ["description", "level", "settle", "timeout"]) if (got.place[key] !== null) spec[key] = got.place[key];
        if (got.place.hosts) {
          spec.hosts = {};
          for (const row of got.place.hosts) {
            const outlets = String(row.outlets || "").split(",").map((s) => s.trim()).filter(Boolean);
            if (row.node) spec.hosts[row.node] = outlets.length === 1 ? outlets[0] : outlets;
          }
        }
        r = await api("POST", "/api/v1/devices", spec);
      }
      if (r.status === 200) {
        say(`${t("saved")}: devices.d/${r.data.name}.toml`, "good");
        form.dataset.version = r.data.version;
        if (!device) location.assign(`/ui/devices/${encodeURIComponent(r.data.name)}?saved=1`);
      } else if (r.status === 400) {
        const rest = serverProblems(form, r.data); say(t("fix_fields") + (rest ? " " + rest : ""), "bad");
      } else say(`${t("failed")}: ${r.data.error || r.status}`, "bad");
    });

    // Array rows: add and remove within minelem/maxelem.
    form.addEventListener("click", (event) => {
      const button = event.target.closest("button.add, button.remove");
      if (!button) return;
      const array = button.closest(".field.array");
      const rows = $(":scope > ol.rows", array);
      if (button.classList.contains("add")) {
        const n = rows.children.length;
        const html = $(":scope > template.row-template", array).innerHTML
          .replaceAll("__n1__", String(n + 1)).replaceAll("__n__", String(n));
        rows.insertAdjacentHTML("beforeend", html);
        const input = $(".value", rows.lastElementChild);
        if (input) input.focus();
      } else {
        button.closest("li.row").remove();
        $(":scope > button.add", array).focus();
      }
      bounds(array);
    });
    for (const array of $$(".field.array", form)) bounds(array);
  }

  function bounds(array) {
    const n = $(":scope > ol.rows", array).children.length;
    const max = array.dataset.maxelem ? Number(array.dataset.maxelem) : Infinity;
    const min = array.dataset.minelem ? Number(array.dataset.minelem) : 0;
    $(":scope > button.add", array).disabled = n >= max;
    for (const b of $$(":scope > ol.rows > li.row > button.remove", array)) b.disabled = n <= min;
  }

  // -- nodes: live updates and actions -------------------------------------------------------
  function liveNodes(table) {
    const live = $("p.live");
    let pending = null;
    async function refresh() {
      pending = null;
      const nodeset = table.dataset.nodeset || "";
      const response = await fetch("/ui/fragments/nodes?nodeset=" + encodeURIComponent(nodeset), { credentials: "same-origin" });
      if (response.status === 401) { location.assign("/ui/login?next=" + encodeURIComponent(location.pathname + location.search)); return; }
      if (!response.ok) return;
      $("tbody", table).innerHTML = await response.text();
      if (live) live.textContent = t("updated") + " " + new Date().toLocaleTimeString();
    }
    const soon = () => { if (!pending) pending = setTimeout(refresh, 300); };
    const events = new EventSource("/api/v1/events");
    events.addEventListener("outlet", (e) => {
      const ev = JSON.parse(e.data);
      for (const span of $$(`.outlet[data-device="${CSS.escape(ev.device)}"][data-outlet="${CSS.escape(String(ev.outlet))}"]`, table)) {
        span.className = "outlet " + ev.state;
        $(".state", span).textContent = t(ev.state);
      }
      soon();
    });
    for (const kind of ["node", "operation-end", "device-health", "device-changed"]) events.addEventListener(kind, soon);
    events.addEventListener("node", (e) => progressLine(JSON.parse(e.data)));
    events.addEventListener("phase", (e) => progressPhase(JSON.parse(e.data)));
    table.addEventListener("click", (event) => {
      const button = event.target.closest("button.act");
      if (button) confirmAction(button);
    });
  }

  function progressLog(text, kind) {
    const section = $("section.progress");
    if (!section) return;
    section.hidden = false;
    const li = document.createElement("li");
    li.textContent = new Date().toLocaleTimeString() + " — " + text;
    if (kind) li.className = kind;
    $(".progress-log", section).appendChild(li);
  }

  function progressLine(ev) {
    if (running && running.has(ev.node)) progressLog(`${ev.node}: ${t(ev.result)} (${t(ev.state)})`, ev.result === "ok" ? "good" : "bad");
  }

  // One line per device as each phase of a running operation is read back (off, then on).
  function progressPhase(ev) {
    if (!running || !running.has(ev.node)) return;
    for (const d of ev.devices) {
      const states = d.outlets.map((o) => `${t("outlet")} ${o.id} ${t(o.state)}`).join(", ");
      const took = d.finished && d.started ? ` (${(d.finished - d.started).toFixed(2)} s)` : "";
      progressLog(`${ev.node}: ${t(ev.phase)} — ${d.device} (${t("level")} ${d.level}): ${t("read back")} ${states}${took}${d.error ? " — " + d.error : ""}`, ev.reached ? "good" : "bad");
    }
    shownPhases += 1;
  }

  let running = null;
  let shownPhases = 0;
  function confirmAction(button) {
    const dialog = $("dialog.confirm");
    const node = button.dataset.node, verb = button.dataset.verb;
    const outlets = JSON.parse(button.dataset.outlets || "[]");
    $("#confirm-title", dialog).textContent = `${t("verb_" + verb)}: ${node}`;
    $(".confirm-text", dialog).textContent = t("confirm_" + verb);
    const list = $(".confirm-outlets", dialog);
    list.textContent = "";
    for (const o of outlets) {
      const li = document.createElement("li");
      li.textContent = `${o.device} — ${t("outlet")} ${o.id}${o.name && o.name !== o.id ? " (" + o.name + ")" : ""}, ${t("level")} ${o.level}: ${t("now")} ${t(o.state)}`;
      list.appendChild(li);
    }
    const go = $(".confirm-go", dialog), cancel = $(".confirm-cancel", dialog);
    go.onclick = () => { dialog.close(); run(verb, node); };
    cancel.onclick = () => { dialog.close(); button.focus(); };
    dialog.showModal();
  }

  async function run(verb, node) {
    running = new Set([node]);
    shownPhases = 0;
    progressLog(`${t("asked")}: ${t("verb_" + verb)} ${node}`);
    const r = await api("POST", `/api/v1/power/${verb}`, { nodeset: node });
    if (r.status !== 200) { progressLog(`${t("refused")}: ${r.data.error || r.status}`, "bad"); return; }
    for (const result of r.data.results) {
      // Phases the event stream already showed live are not repeated (a page without the stream
      // still gets them all from the answer).
      for (const d of shownPhases ? [] : result.devices) {
        const states = d.outlets.map((o) => `${t("outlet")} ${o.id} ${t(o.state)}`).join(", ");
        progressLog(`${t(d.phase)} — ${d.device} (${t("level")} ${d.level}): ${t("read back")} ${states}${d.error ? " — " + d.error : ""}`, d.error ? "bad" : "");
      }
      progressLog(`${t("done")}: ${result.node} ${t(result.result)} (${t(result.state)})`, result.result === "ok" ? "good done" : "bad done");
    }
    running = null;
  }

  document.addEventListener("DOMContentLoaded", () => {
    const form = $("form.device-form:not(.readonly)");
    if (form) deviceForm(form);
    const nodes = $("table[data-live=nodes]");
    if (nodes) liveNodes(nodes);
  });
})();
