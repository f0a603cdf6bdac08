import Synchronization
import TokenWattCore

/// The series each node pushed, by their place in its requests: at each position, the wire key
/// of the series last pushed there and its id. An agent pushes the same series in the same order
/// every time, so a push whose series sit where they sat before is stored without decoding,
/// checking and looking up its labels again (most of the work of a push).
///
/// A key stands for the exact label bytes of the node's earlier request, which passed every
/// check and, with the node's `node` label and the static labels (fixed while the aggregator
/// runs), named that series; series ids are never reused. A series at a new position, or with
/// other bytes, is decoded in full and takes the position over.
final class PushedSeriesCache: Sendable {
    /// Sixteen bytes a place (with a token per node, one per series): the key and the id, while
    /// ids fit 32 bits (a series past that is not remembered, and takes the labels path).
    struct Slot: Sendable {
        var key: WireSeriesKey
        var id: UInt32

        init?(key: WireSeriesKey, id: Int64) {
            guard let id = UInt32(exactly: id) else { return nil }
            self.key = key
            self.id = id
        }

        static let empty = Slot(key: .none, id: 0)!
    }

    private let slotsByNode = Mutex<[String: [Slot]]>([:])

    /// The node's slots as they are now (a copy: reading them takes no lock).
    func slots(of node: String) -> [Slot] {
        slotsByNode.withLock { $0[node] ?? [] }
    }

    /// Records the series found at these positions of a node's request.
    func remember(node: String, _ found: [(position: Int, slot: Slot)]) {
        guard !found.isEmpty else { return }
        slotsByNode.withLock { slotsByNode in
            var slots = slotsByNode.removeValue(forKey: node) ?? []  // alone, so changed in place
            // Grown once, to the size the request needs: a fleet holds one array per node.
            let needed = found.map(\.position).max()! + 1
            if needed > slots.count { slots.append(contentsOf: repeatElement(.empty, count: needed - slots.count)) }
            for (position, slot) in found { slots[position] = slot }
            slotsByNode[node] = slots
        }
    }
}
