//! Jobs: where a job stands (its status) and what the live output stream sends.
