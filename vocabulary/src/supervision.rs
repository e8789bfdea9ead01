//! Supervision (manual §8): why a probe of a site found it down.

crate::words! {
    /// Why a probe counts the site as down (the pages translate each).
    pub enum ProbeFailure as "probe failure" {
        /// Nothing accepted the connection.
        NoConnection = "no-connection",
        /// No answer within the probe's time limit.
        Timeout = "timeout",
        /// The site's certificate was refused (expired, another name, an
        /// authority the console does not trust).
        Certificate = "certificate",
        /// An answer, with another status than the one expected.
        WrongStatus = "wrong-status",
        /// The expected status, without the expected text in the body.
        TextMissing = "text-missing",
        /// The connection broke, or the answer could not be read.
        NoAnswer = "no-answer",
    }
}
