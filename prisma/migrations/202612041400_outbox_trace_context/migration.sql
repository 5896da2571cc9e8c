-- The W3C traceparent of the request that wrote the event (null when tracing is off), so that the
-- job it causes joins the request's trace, also when the relay hands it over.
ALTER TABLE "outbox_events" ADD COLUMN "trace_context" TEXT;
