import Hummingbird
import NIOCore
import NIOSSL
import X509

/// A request context that can name the client certificate its connection's TLS handshake
/// verified: a node may push with a certificate instead of a token.
public protocol ClientCertificateContext: RequestContext {
    /// The common names (CN) of the verified client certificate's subject; none without one.
    func clientCertificateCommonNames() async -> [String]
}

/// The aggregator's request context: Hummingbird's basic one, and the connection's channel,
/// whose TLS handler holds the client certificate (asked for only by the handlers that need it).
public struct DaemonRequestContext: ClientCertificateContext {
    public var coreContext: CoreRequestContextStorage
    let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    public func clientCertificateCommonNames() async -> [String] {
        // The server asks for a certificate only when a CA is configured, and one that does
        // not chain to it fails the handshake: a certificate here was verified.
        guard let peer = try? await channel.nioSSL_peerCertificate().get(), let der = try? peer.toDERBytes(),
              let certificate = try? Certificate(derEncoded: der) else { return [] }
        return certificate.subject.flatMap { $0 }.filter { $0.type == .RDNAttributeType.commonName }.map { String(describing: $0.value) }
    }
}
