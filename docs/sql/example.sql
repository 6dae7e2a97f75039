-- crmn-flink's SQL example (docs/sql.md): frames from Kafka classified with ML_PREDICT, one prediction per frame
-- to a Kafka topic exactly once, and a count of each label per 10 s window. Run from the repository root:
--   ./crmn sql --file docs/sql/example.sql --bootstrap-servers localhost:9092

-- The frames as producers send them (docs/wire-format.md): the value is the encoded image, the frame id a header.
CREATE TABLE frames (
  image     BYTES,
  headers   MAP<STRING, BYTES> METADATA,
  ts        TIMESTAMP_LTZ(3) METADATA FROM 'timestamp',
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH (
  'connector' = 'kafka',
  'topic' = 'frames',
  'properties.bootstrap.servers' = '${bootstrap-servers}',
  'properties.group.id' = 'crmn-sql-example',
  'properties.isolation.level' = 'read_committed',
  -- where this group stopped (its offsets are committed at each checkpoint), else from the start of the topic
  'scan.startup.mode' = 'group-offsets',
  'properties.auto.offset.reset' = 'earliest',
  -- the frames there when the job starts, then the job ends; without this line it runs until stopped
  'scan.bounded.mode' = 'latest-offset',
  'format' = 'raw'
);

CREATE MODEL crmn_model
  INPUT (image BYTES)
  OUTPUT (label STRING, class_index INT, probability FLOAT, model_version INT, error STRING)
  WITH ('provider' = 'crmn', 'model' = 'models/crmn-demo');

CREATE TABLE sql_predictions (
  frame_id      STRING,
  label         STRING,
  class_index   INT,
  probability   FLOAT,
  model_version INT,
  error         STRING
) WITH (
  'connector' = 'kafka',
  'topic' = 'sql-predictions',
  'properties.bootstrap.servers' = '${bootstrap-servers}',
  'properties.transaction.timeout.ms' = '900000',
  'sink.delivery-guarantee' = 'exactly-once',
  'sink.transactional-id-prefix' = 'crmn-sql-predictions',
  'format' = 'json'
);

CREATE TABLE label_counts (
  window_start TIMESTAMP(3),
  window_end   TIMESTAMP(3),
  label        STRING,
  frames       BIGINT
) WITH (
  'connector' = 'kafka',
  'topic' = 'sql-label-counts',
  'properties.bootstrap.servers' = '${bootstrap-servers}',
  'properties.transaction.timeout.ms' = '900000',
  'sink.delivery-guarantee' = 'exactly-once',
  'sink.transactional-id-prefix' = 'crmn-sql-label-counts',
  'format' = 'json'
);

CREATE TEMPORARY VIEW classified AS
SELECT CAST(headers['frame-id'] AS STRING) AS frame_id, ts, label, class_index, probability, model_version, error
FROM ML_PREDICT(TABLE frames, MODEL crmn_model, DESCRIPTOR(image));

-- one job for both: every frame is classified once
EXECUTE STATEMENT SET
BEGIN
  INSERT INTO sql_predictions
    SELECT frame_id, label, class_index, probability, model_version, error FROM classified;
  INSERT INTO label_counts
    SELECT window_start, window_end, label, COUNT(*)
    FROM TABLE(TUMBLE(TABLE classified, DESCRIPTOR(ts), INTERVAL '10' SECOND))
    WHERE label IS NOT NULL
    GROUP BY window_start, window_end, label;
END;
