//! The vocabulary of exchanges with external services: the error codes every failure is
//! classified into, the steps of a Test Connection, and the integration log's values.

use super::stored_enum::stored_enum;

stored_enum! {
    /// Why an exchange with an external service failed. Stable: clients may switch on it.
    pub enum IntegrationErrorCode {
        /// The service's host name does not resolve.
        DnsFailure = "DNS_FAILURE",
        /// Nothing accepts connections at the address (or it cannot be reached).
        ConnectionRefused = "CONNECTION_REFUSED",
        /// The service did not answer within the connection's timeout.
        Timeout = "TIMEOUT",
        /// The TLS handshake failed: an unknown certificate authority, a certificate for
        /// another host name, an expired certificate, or no common protocol.
        TlsError = "TLS_ERROR",
        /// The service refused Switchboard's credentials.
        AuthFailed = "AUTH_FAILED",
        /// The service answered, but not as a working service answers (an HTTP error status,
        /// a missing directory).
        UnexpectedResponse = "UNEXPECTED_RESPONSE",
        /// The answer broke the protocol (MLLP framing, an HL7 acknowledgement that rejects
        /// or does not match).
        ProtocolError = "PROTOCOL_ERROR",
        /// The address is loopback, private, link-local or metadata, and not allowed in the
        /// server's configuration (`services.allowed_hosts`).
        BlockedAddress = "BLOCKED_ADDRESS",
    }
}

impl IntegrationErrorCode {
    /// Whether trying again later may succeed.
    pub fn retryable(self) -> bool {
        use IntegrationErrorCode::*;
        matches!(
            self,
            DnsFailure | ConnectionRefused | Timeout | UnexpectedResponse
        )
    }
}

stored_enum! {
    /// One step of talking to a service.
    pub enum ProbeStep {
        /// Looking up the host name (and checking where it points).
        Resolve = "RESOLVE",
        /// Opening the TCP connection.
        Connect = "CONNECT",
        /// The TLS handshake: the certificate chain and host name verified.
        Tls = "TLS",
        /// Getting credentials to call with: an OAuth 2.0 token (cached, or from the token
        /// endpoint).
        Authenticate = "AUTHENTICATE",
        /// One harmless call of the protocol, authenticated: an HTTP health request, an HL7
        /// test message answered by an acknowledgement.
        Call = "CALL",
        /// Writing, reading back and deleting a probe object (storage).
        Storage = "STORAGE",
    }
}

stored_enum! {
    /// Which way an exchange went.
    pub enum Direction {
        Outbound = "OUTBOUND",
        Inbound = "INBOUND",
    }
}

stored_enum! {
    /// What an exchange was.
    pub enum Operation {
        /// Test Connection, from the portal or the API.
        TestConnection = "TEST_CONNECTION",
    }
}

stored_enum! {
    /// How an exchange ended.
    pub enum Outcome {
        Ok = "OK",
        Failed = "FAILED",
    }
}
