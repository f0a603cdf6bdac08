import Foundation
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import Synchronization
import TokenWattCore
import UnixSignals

/// `web.tls_server_config`, named as in Prometheus's web configuration file: the server's
/// certificate and key, and optionally the CA that client certificates must chain to.
public struct TLSServerConfiguration: Sendable, Equatable {
    /// Prometheus's names for whether a client must show a certificate.
    public enum ClientAuth: String, Sendable, CaseIterable {
        case none = "NoClientCert"
        case verifyIfGiven = "VerifyClientCertIfGiven"
        case require = "RequireAndVerifyClientCert"
    }

    public var certFile: String
    public var keyFile: String
    public var clientCAFile: String?
    public var clientAuth: ClientAuth

    public init(certFile: String, keyFile: String, clientCAFile: String? = nil, clientAuth: ClientAuth = .none) {
        self.certFile = certFile
        self.keyFile = keyFile
        self.clientCAFile = clientCAFile
        self.clientAuth = clientAuth
    }

    /// Nil when the mapping is absent (plain HTTP).
    public init?(_ node: ConfigNode) throws(CoreError) {
        guard node.isPresent else { return nil }
        try node.requireMapping(allowing: ["cert_file", "key_file", "client_ca_file", "client_auth_type"])
        guard let cert = try node["cert_file"].string() else { throw node["cert_file"].error("the server certificate's PEM file") }
        guard let key = try node["key_file"].string() else { throw node["key_file"].error("the server key's PEM file") }
        let authText = try node["client_auth_type"].string(default: ClientAuth.none.rawValue)
        guard let auth = ClientAuth(rawValue: authText) else {
            throw node["client_auth_type"].error("one of \(ClientAuth.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(authText)\"")
        }
        let ca = try node["client_ca_file"].string()
        guard auth == .none || ca != nil else { throw node["client_ca_file"].error("the CA file that client certificates are verified against (client_auth_type: \(authText))") }
        self.init(certFile: cert, keyFile: key, clientCAFile: ca, clientAuth: auth)
        // Read once here, so that a bad file stops the start with its key named.
        do {
            _ = try TLSServerContext.makeContext(self)
        } catch {
            throw node.error("files that load as PEM: cert_file \(cert), key_file \(key)\(ca.map { ", client_ca_file \($0)" } ?? "") (\(error))")
        }
    }
}

/// A listener's TLS context, read from its files at start and again on SIGHUP: connections
/// made after a reload get the renewed certificate, those already open keep theirs, and a
/// reload that fails keeps the old context (and says why).
public final class TLSServerContext: Sendable {
    public let configuration: TLSServerConfiguration
    private let current: Mutex<NIOSSLContext>

    public init(_ configuration: TLSServerConfiguration) throws {
        self.configuration = configuration
        current = Mutex(try TLSServerContext.makeContext(configuration))
    }

    /// The context new connections get.
    var context: NIOSSLContext { current.withLock { $0 } }

    public func reload() throws {
        let context = try TLSServerContext.makeContext(configuration)
        current.withLock { $0 = context }
    }

    static func makeContext(_ configuration: TLSServerConfiguration) throws -> NIOSSLContext {
        let chain = try NIOSSLCertificate.fromPEMFile(configuration.certFile).map(NIOSSLCertificateSource.certificate)
        let key = try NIOSSLPrivateKey(file: configuration.keyFile, format: .pem)
        var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
        tls.minimumTLSVersion = .tlsv12
        if let ca = configuration.clientCAFile {
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca))
            switch configuration.clientAuth {
            case .none: tls.certificateVerification = .none
            case .verifyIfGiven: tls.certificateVerification = .optionalVerification
            case .require: tls.certificateVerification = .noHostnameVerification
            }
        }
        return try NIOSSLContext(configuration: tls)
    }
}

/// Reloads the listeners' certificates on SIGHUP (`systemctl reload`), as Prometheus's
/// exporters do, so that a renewed certificate is served without a restart (and without
/// dropping a push). SIGHUP is trapped without TLS too: its default would end the daemon.
public struct TLSReloadService: Service {
    let contexts: [TLSServerContext]
    let logger: Logger

    public init(contexts: [TLSServerContext], logger: Logger) {
        self.contexts = contexts
        self.logger = logger
    }

    public func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            if contexts.isEmpty { logger.info("SIGHUP: no TLS certificate to reload") }
            for context in contexts {
                do {
                    try context.reload()
                    logger.info("TLS certificate reloaded", metadata: ["cert_file": "\(context.configuration.certFile)"])
                } catch {
                    logger.error("TLS certificate not reloaded; the old one is still served",
                                 metadata: ["cert_file": "\(context.configuration.certFile)", "error": "\(error)"])
                }
            }
        }
    }
}
