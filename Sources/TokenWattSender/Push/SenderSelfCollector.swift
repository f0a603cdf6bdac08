import TokenWattCore
import TokenWattService

/// The sender's own state, pushed with everything else so the aggregator sees a struggling
/// agent or gateway: spool depth, samples dropped by reason, pushes by result, failed pushes by
/// reason, the last accepted push. Both daemons report these under the same names
/// (`tokenwatt_agent_*`, named for the first of them), told apart by their `node`.
struct SenderSelfCollector: Collector {
    let name = "shipping"
    let spool: Spool
    let pusher: Pusher

    func collect() async throws(CollectorError) -> [ExpositionSample] {
        var samples = SampleList()
        let depth = spool.depth
        samples.add(.agentSpoolBatches, Double(depth.batches))
        samples.add(.agentSpoolSamples, Double(depth.samples))
        samples.add(.agentSpoolBytes, Double(depth.bytes))
        let dropped = spool.droppedSamples
        for reason in Spool.DropReason.allCases {
            samples.add(.agentSpoolDroppedSamples, Double(dropped[reason] ?? 0), [("reason", reason.rawValue)])
        }
        let status = pusher.status
        for result in ["success", "retry", "rejected"] {
            samples.add(.agentPushes, Double(status.requests[result] ?? 0), [("result", result)])
        }
        for reason in SendFailure.Reason.allCases {
            samples.add(.agentPushErrors, Double(status.errors[reason] ?? 0), [("reason", reason.rawValue)])
        }
        if let last = status.lastSuccessMs {
            samples.add(.agentLastPushSuccessTimestampSeconds, Double(last) / 1000)
        }
        return samples.samples
    }
}
