/// Values by series id, in an array indexed by the id. Series ids are SQLite row ids, given one
/// after another from 1, so the array is dense: a lookup is an index, where a dictionary hashes
/// the id and probes its table (at two million series those probes, each a cache miss, were the
/// largest single cost on the writer's path). An id far past the others (a row id set by hand)
/// goes to a dictionary beside, so no id makes the array huge.
struct SeriesTable<Value> {
    private var slots: [Value?] = []
    private var sparse: [Int64: Value] = [:]
    /// Ids with a value.
    private(set) var count = 0

    /// Whether `id` belongs in the array: up to twice the values held, and a million more.
    private func isDense(_ id: Int64) -> Bool {
        id >= 0 && id < Int64(max(slots.count, 2 * count + 1_000_000))
    }

    /// Whether `id`'s value is (or goes) in the dictionary beside the array.
    private func isSparse(_ id: Int64) -> Bool {
        (!sparse.isEmpty && sparse[id] != nil) || !isDense(id)
    }

    subscript(id: Int64) -> Value? {
        // Read in place: a copy of a value would retain and release its arrays.
        _read {
            if id >= 0 && id < Int64(slots.count) && slots[Int(id)] != nil {
                yield slots[Int(id)]
            } else {
                yield sparse.isEmpty ? nil : sparse[id]
            }
        }
        _modify {
            if isSparse(id) {
                let had = sparse[id] != nil
                yield &sparse[id]
                count += (sparse[id] != nil ? 1 : 0) - (had ? 1 : 0)
            } else {
                if id >= Int64(slots.count) { slots.append(contentsOf: repeatElement(nil, count: Int(id) - slots.count + 1)) }
                let had = slots[Int(id)] != nil
                yield &slots[Int(id)]
                count += (slots[Int(id)] != nil ? 1 : 0) - (had ? 1 : 0)
            }
        }
    }

    /// The value of `id`, made from `value` first when there is none; changed in place.
    subscript(id: Int64, default value: @autoclosure () -> Value) -> Value {
        get { self[id] ?? value() }
        _modify {
            if self[id] == nil { self[id] = value() }
            if isSparse(id) {
                yield &sparse[id]!
            } else {
                yield &slots[Int(id)]!
            }
        }
    }

    /// The ids with a value, in increasing order.
    var ids: [Int64] {
        var ids: [Int64] = []
        ids.reserveCapacity(count)
        for index in slots.indices where slots[index] != nil { ids.append(Int64(index)) }
        return sparse.isEmpty ? ids : (ids + sparse.keys).sorted()
    }
}
