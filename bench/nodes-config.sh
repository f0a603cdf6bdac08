# Sourced by the benchmark and screenshot scripts. `nodes_config COUNT PREFIX` prints the `nodes:`
# of an aggregator's config, node-0 … node-(COUNT-1), each pushing with a token of its own from
# the environment (PREFIX_TOKEN_N = prefix-secret-N, exported here), as a fleet's agents do.
nodes_config() {
    local count="$1" prefix="$2"
    echo "nodes:"
    for node in $(seq 0 $((count - 1))); do
        echo "  - {name: node-$node, token_env: ${prefix}_TOKEN_$node}"
        export "${prefix}_TOKEN_$node=${prefix,,}-secret-$node"
    done
}
