#!/usr/bin/env bash
# The same stand-in OpenAI upstream (tokenwatt-bench gateway-upstream: it answers at once) used
# directly, through TokenWatt's gateway (without and with hard caps, the latter reserving and
# settling every request at a running aggregator) and through LiteLLM's proxy (litellm[proxy]
# from PyPI, the same model list), in one run: latency at 1, 50 and 200 concurrent clients,
# what each proxy adds to the direct figures, and each proxy's CPU per request. JSON answers,
# then streamed ones. Then LiteLLM's own budget under 500 concurrent requests.
# Usage: bench/gateway-vs-litellm.sh [requests per level, default 4000]   (BENCH_SMOKE=1: see bench/common.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
requests="${1:-$(sized 4000 40)}"
overspend=$(sized 500 50)
bench_build tokenwatt-gateway tokenwatt-aggregator tokenwatt-bench
venv="$(bench/litellm-venv.sh)"
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
upstream_port=$(free_port) aggregator_port=$(free_port) litellm_port=$(free_port) litellm_budget_port=$(free_port)

"$bin/tokenwatt-bench" gateway-upstream --port "$upstream_port" &
upstream_pid=$!

cat >"$work/aggregator.yml" <<YAML
gateways: [{name: bench-plain, token_env: BENCH_TOKEN_PLAIN}, {name: bench-capped, token_env: BENCH_TOKEN_CAPPED}]
cloud_prices: [{match: bench-model, input: 1.0, output: 2.0}, {match: bench-overspend, input: 1000, output: 1000}]
budgets:
  - {name: cap, match: {model: bench-model}, measure: usd, limit: 1e9, action: block}
  - {name: overspend, match: {model: bench-overspend}, measure: usd, limit: 1.0, action: block}
YAML
export BENCH_TOKEN_PLAIN=bench-secret-plain BENCH_TOKEN_CAPPED=bench-secret-capped BENCH_KEY="sk-bench-$(python3 -c "import secrets; print(secrets.token_hex(24))")"
"$bin/tokenwatt-aggregator" --config "$work/aggregator.yml" --listen "127.0.0.1:$aggregator_port" --data-dir "$work/aggregator" >"$work/aggregator.log" 2>&1 &
wait_ready "http://127.0.0.1:$aggregator_port/-/ready"
for variant in plain capped; do
    port=$(free_port)
    eval "gateway_${variant}_port=$port"
    capped=$([ "$variant" = plain ] && echo false || echo true)
    token_variable="BENCH_TOKEN_$(echo "$variant" | tr a-z A-Z)"
    cat >"$work/gateway-$variant.yml" <<YAML
listen: 127.0.0.1:$port
spool: {directory: $work/spool-$variant}
aggregator: {url: "http://127.0.0.1:$aggregator_port", token_env: $token_variable}
usage: {attributes: [team]}
callers: [{key_env: BENCH_KEY, labels: {team: bench}}]
routes: [{match: "bench-.*", upstream: "http://127.0.0.1:$upstream_port", capped: $capped}]
YAML
    "$bin/tokenwatt-gateway" --config "$work/gateway-$variant.yml" >"$work/gateway-$variant.log" 2>&1 &
    eval "gateway_${variant}_pid=$!"
    wait_ready "http://127.0.0.1:$port/-/healthy"
done

cat >"$work/litellm.yaml" <<YAML
model_list:
  - model_name: bench-model
    litellm_params: {model: openai/bench-model, api_base: "http://127.0.0.1:$upstream_port/v1", api_key: sk-upstream}
general_settings: {master_key: os.environ/BENCH_KEY}
YAML
LITELLM_LOG=ERROR "$venv/bin/litellm" --config "$work/litellm.yaml" --host 127.0.0.1 --port "$litellm_port" >"$work/litellm.log" 2>&1 &
litellm_pid=$!
wait_ready "http://127.0.0.1:$litellm_port/health/liveliness"
echo "== $("$venv/bin/pip" show litellm | grep Version), tokenwatt $(git rev-parse --short HEAD), $(nproc) cores"

targets=(--target "direct=http://127.0.0.1:$upstream_port=$upstream_pid"
         --target "tokenwatt=http://127.0.0.1:$gateway_plain_port=$gateway_plain_pid"
         --target "tokenwatt-capped=http://127.0.0.1:$gateway_capped_port=$gateway_capped_pid"
         --target "litellm=http://127.0.0.1:$litellm_port=$litellm_pid")
# Each client as fast as answers come: what each proxy sustains on these cores, and the queueing
# that comes with it. Then paced at 50 requests/s to each target (under every proxy's ceiling
# here but LiteLLM's on streams, so the added latency is each proxy's own work, not a queue),
# each proxy's requests taking turns with direct ones, JSON and streamed.
"$bin/tokenwatt-bench" gateway "${targets[@]}" --key "$BENCH_KEY" --requests "$requests"
for stream in "" --stream; do
    "$bin/tokenwatt-bench" gateway "${targets[@]}" --key "$BENCH_KEY" --requests "$((requests / 2))" --rate 50 $stream
done

# Overspend: 500 concurrent requests, each costing 0.028 USD (20 input and 8 output tokens at
# 0.001 USD each), against a 1.00 USD budget: LiteLLM's proxy-wide max_budget (its budgets
# that need no database; key, team and user budgets need PostgreSQL) and TokenWatt's hard cap.
kill "$litellm_pid"; wait "$litellm_pid" 2>/dev/null || true
cat >"$work/litellm-budget.yaml" <<YAML
model_list:
  - model_name: bench-overspend
    litellm_params: {model: openai/bench-overspend, api_base: "http://127.0.0.1:$upstream_port/v1", api_key: sk-upstream}
    model_info: {input_cost_per_token: 0.001, output_cost_per_token: 0.001}
litellm_settings: {max_budget: 1.0, budget_duration: 30d}
general_settings: {master_key: os.environ/BENCH_KEY}
YAML
LITELLM_LOG=ERROR "$venv/bin/litellm" --config "$work/litellm-budget.yaml" --host 127.0.0.1 --port "$litellm_budget_port" >"$work/litellm-budget.log" 2>&1 &
wait_ready "http://127.0.0.1:$litellm_budget_port/health/liveliness"
cat >"$work/fire.py" <<'PY'
import asyncio, collections, os, sys
import httpx
async def main(url, count):
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=count), timeout=120) as client:
        async def one():
            answer = await client.post(url + "/v1/chat/completions", headers={"Authorization": "Bearer " + os.environ["BENCH_KEY"]},
                                       json={"model": "bench-overspend", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]})
            return answer.status_code
        statuses = collections.Counter(await asyncio.gather(*[one() for _ in range(count)]))
    print(f"{sys.argv[3]:<18} answers {dict(statuses)}: spent {statuses[200] * 0.028:.3f} USD of a 1.00 USD budget")
asyncio.run(main(sys.argv[1], int(sys.argv[2])))
PY
echo "== overspend: $overspend concurrent requests at 0.028 USD each against a 1.00 USD budget"
"$venv/bin/python" "$work/fire.py" "http://127.0.0.1:$litellm_budget_port" "$overspend" litellm
"$venv/bin/python" "$work/fire.py" "http://127.0.0.1:$gateway_capped_port" "$overspend" tokenwatt-capped
