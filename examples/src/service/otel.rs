//! Opt-in OpenTelemetry (`--otel`): traces sampled at the root by the trace id
//! (`ParentBased(TraceIdRatioBased(head_rate))`), and the file's sampler keyed on the same
//! traces (`sampling_layer::otel::follow_trace`), so the logs kept are exactly those of the
//! traces exported. See "Logs that line up with traces" in `docs/guide.md`.
//!
//! Every request is a root: the service does not read an incoming `traceparent`. To join
//! a caller's trace, extract its context in a middleware that creates the request span and
//! calls `OpenTelemetrySpanExt::set_parent` *before* the span is first entered (entering
//! starts the OpenTelemetry span; a later `set_parent` has no effect), and the parent-based
//! sampler then follows the caller's decision.
//!
//! The service has no collector to talk to, so the exporter here writes one JSON line per
//! span to a file (`--otel-spans-file`), or nothing; in production put
//! `opentelemetry-otlp`'s exporter in [`provider`]'s `with_batch_exporter` instead.

use std::fmt;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, SpanData, SpanExporter};
use serde_json::json;

use super::filters::ConfigError;

/// The tracer provider: traces sampled at `head_rate` at the root and by their parent's
/// decision below it, exported in batches (off the request threads) to `spans_file` if
/// given. Keep it, and `shutdown()` it at exit: that exports the last batch.
pub fn provider(
    head_rate: f64,
    spans_file: Option<&Path>,
) -> Result<SdkTracerProvider, Box<dyn std::error::Error>> {
    if !(0.0..=1.0).contains(&head_rate) {
        return Err(Box::new(ConfigError {
            source: "--otel-head-rate".to_owned(),
            directive: head_rate.to_string(),
            reason: "a rate is in [0, 1]".to_owned(),
        }));
    }
    let sampler = Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(head_rate)));
    let mut builder = SdkTracerProvider::builder().with_sampler(sampler);
    if let Some(path) = spans_file {
        builder = builder.with_batch_exporter(SpanFile(Mutex::new(File::create(path)?)));
    }
    Ok(builder.build())
}

/// Writes each exported span as a JSON line: `trace_id`, `name` and its string attributes
/// (the `tracing` span's fields, `request_id` among them). A stand-in for a collector.
struct SpanFile(Mutex<File>);

impl fmt::Debug for SpanFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanFile").finish_non_exhaustive()
    }
}

impl SpanExporter for SpanFile {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let mut out = String::new();
        for span in batch {
            let mut line = json!({
                "trace_id": span.span_context.trace_id().to_string(),
                "sampled": span.span_context.is_sampled(),
                "name": span.name,
            });
            for kv in &span.attributes {
                line[kv.key.as_str()] = json!(kv.value.as_str());
            }
            out.push_str(&line.to_string());
            out.push('\n');
        }
        let mut file = self.0.lock().unwrap_or_else(|p| p.into_inner());
        file.write_all(out.as_bytes())
            .and_then(|()| file.flush())
            .map_err(|e| OTelSdkError::InternalFailure(format!("span file: {e}")))
    }
}
