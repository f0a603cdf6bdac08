
import Foundation
import TokenWattCore

/// Who a process on a GPU works for: the inference server it is (it, or a process it was
/// started by, listens on the server's port: vLLM's engine cores are children of its API
/// server), and from its cgroup its systemd unit, container and Kubernetes pod.
struct ProcessOwner: Hashable, Sendable {
    var server: String?
    var unit: String?
    var container: String?
    var podUID: String?

    /// The one name its share of a GPU's energy is booked under: the server where known, else
    /// the pod, the container, the unit; `unattributed` when none is known.
    var consumer: String {
        server ?? podUID.map { "pod:" + $0 } ?? container.map { "container:" + $0 } ?? unit ?? GPUConsumer.unattributed
    }

    /// The owners of `pids`, read from procfs: `servers` are the configured inference servers'
    /// addresses (`host:port`). A process that is gone or unreadable has an owner of nothing.
    static func read(_ pids: Set<UInt32>, servers: [String], procfs: SystemFiles) -> [UInt32: ProcessOwner] {
        guard !pids.isEmpty else { return [:] }
        let serverByPort = Dictionary(servers.compactMap { address in address.split(separator: ":").last.flatMap { Int($0) }.map { ($0, address) } },
                                      uniquingKeysWith: { first, _ in first })
        let listening = serverByPort.isEmpty ? [:] : listeningSockets(procfs).compactMapValues { serverByPort[$0] }
        return Dictionary(uniqueKeysWithValues: pids.map { pid in
            var owner = cgroup(of: pid, procfs: procfs)
            owner.server = listening.isEmpty ? nil : server(of: pid, listening: listening, procfs: procfs)
            return (pid, owner)
        })
    }

    /// The command line of the process listening on `port`; nil where none is found (or its
    /// descriptors cannot be read: another user's process, without root or CAP_SYS_PTRACE).
    static func commandLine(listeningOn port: Int, procfs: SystemFiles) -> [String]? {
        let inodes = Set(listeningSockets(procfs).filter { $0.value == port }.keys)
        guard !inodes.isEmpty else { return nil }
        for pid in procfs.list("") where !pid.isEmpty && pid.allSatisfy(\.isNumber) {
            let holds = procfs.list("\(pid)/fd").contains { descriptor in
                procfs.link("\(pid)/fd/\(descriptor)").map { $0.hasPrefix("socket:[") && inodes.contains(String($0.dropFirst(8).dropLast())) } ?? false
            }
            if holds, let text = procfs.text("\(pid)/cmdline") { return text.split(separator: "\u{0}").map(String.init) }
        }
        return nil
    }

    /// Socket inode → port of every listening TCP socket (IPv4 and IPv6).
    static func listeningSockets(_ procfs: SystemFiles) -> [String: Int] {
        var sockets: [String: Int] = [:]
        for table in ["net/tcp", "net/tcp6"] {
            for line in (procfs.text(table) ?? "").split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                // local_address is ADDRESS:PORT in hex; state 0A is LISTEN; the inode is field 9.
                guard fields.count > 9, fields[3] == "0A", let port = fields[1].split(separator: ":").last.flatMap({ Int($0, radix: 16) }) else { continue }
                sockets[String(fields[9])] = port
            }
        }
        return sockets
    }

    /// The server whose listening socket the process, or one of its first eight ancestors, holds.
    private static func server(of pid: UInt32, listening: [String: String], procfs: SystemFiles) -> String? {
        var current = pid
        for _ in 0..<8 where current > 1 {
            for descriptor in procfs.list("\(current)/fd") {
                guard let target = procfs.link("\(current)/fd/\(descriptor)"), target.hasPrefix("socket:["), target.hasSuffix("]") else { continue }
                if let server = listening[String(target.dropFirst(8).dropLast())] { return server }
            }
            guard let parent = parent(of: current, procfs: procfs) else { return nil }
            current = parent
        }
        return nil
    }

    private static func parent(of pid: UInt32, procfs: SystemFiles) -> UInt32? {
        let line = (procfs.text("\(pid)/status") ?? "").split(separator: "\n").first { $0.hasPrefix("PPid:") }
        return line.flatMap { UInt32($0.dropFirst(5).trimmingCharacters(in: .whitespaces)) }
    }

    /// The unit, container and pod a cgroup path names (cgroup v2's line, else v1's first).
    static func cgroup(of pid: UInt32, procfs: SystemFiles) -> ProcessOwner {
        let lines = (procfs.text("\(pid)/cgroup") ?? "").split(separator: "\n")
        guard let line = lines.first(where: { $0.hasPrefix("0::") }) ?? lines.first,
              let path = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).last else { return ProcessOwner() }
        return parse(cgroupPath: String(path))
    }

    /// `/system.slice/vllm.service`, `/system.slice/docker-<id>.scope`,
    /// `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid>.slice/cri-containerd-<id>.scope`,
    /// `/kubepods/burstable/pod<uid>/<id>` (v1).
    static func parse(cgroupPath path: String) -> ProcessOwner {
        var owner = ProcessOwner()
        for component in path.split(separator: "/").map(String.init) {
            if let match = component.firstMatch(of: /pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})/) {
                owner.podUID = match.1.replacingOccurrences(of: "_", with: "-")
            } else if let match = component.wholeMatch(of: /(?:docker-|cri-containerd-|crio-|libpod-)?([0-9a-f]{64})(?:\.scope)?/) {
                owner.container = String(match.1.prefix(12))
            } else if component.hasSuffix(".service") || (component.hasSuffix(".scope") && owner.container == nil) {
                owner.unit = component
            }
        }
        return owner
    }
}
