import AsyncHTTPClient
import NIOSSL
import TokenWattCore

/// How a client checks the server it sends to, and the certificate it shows (`tls_config`, named
/// as in Prometheus's `remote_write`): a CA file instead of the system's roots, and a client
/// certificate and key for servers that ask for one.
public struct TLSClientConfiguration: Sendable, Equatable {
    public var caFile: String?
    public var certFile: String?
    public var keyFile: String?

    public init(caFile: String? = nil, certFile: String? = nil, keyFile: String? = nil) {
        self.caFile = caFile
        self.certFile = certFile
        self.keyFile = keyFile
    }

    /// Nil when the mapping is absent (the system's roots, no client certificate).
    public init?(_ node: ConfigNode) throws(CoreError) {
        guard node.isPresent else { return nil }
        try node.requireMapping(allowing: ["ca_file", "cert_file", "key_file"])
        self.init(caFile: try node["ca_file"].string(), certFile: try node["cert_file"].string(), keyFile: try node["key_file"].string())
        guard (certFile == nil) == (keyFile == nil) else { throw node.error("cert_file and key_file together, or neither") }
        do {
            _ = try tlsConfiguration()
        } catch {
            let files = [("ca_file", caFile), ("cert_file", certFile), ("key_file", keyFile)].compactMap { name, path in path.map { "\(name) \($0)" } }
            throw node.error("files that load as PEM: \(files.joined(separator: ", ")) (\(error))")
        }
    }

    public func tlsConfiguration() throws -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        if let caFile { tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile)) }
        if let certFile, let keyFile {
            tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certFile).map(NIOSSLCertificateSource.certificate)
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem))
        }
        return tls
    }
}
