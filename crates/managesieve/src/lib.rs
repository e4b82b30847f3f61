//! ManageSieve (RFC 5804).
