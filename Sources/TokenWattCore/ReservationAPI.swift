/// What the gateway (agent) and the aggregator agree on for hard-cap reservations.
public enum ReservationAPI {
    /// `POST` here reserves a request's worst case; `POST {path}/{id}/settle` settles it.
    public static let path = "/api/v1/reservations"
    /// The longest a reservation may be held; past it, one never settled expires at its worst case.
    public static let maxTTLMs: Int64 = Milliseconds.hour
}
