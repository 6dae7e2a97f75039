package dev.crmn.jobs.sql;

import dev.crmn.model.infer.ClassScore;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.catalog.Column;
import org.apache.flink.table.catalog.ResolvedSchema;
import org.apache.flink.table.data.GenericArrayData;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.types.logical.ArrayType;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.LogicalTypeFamily;
import org.apache.flink.table.types.logical.LogicalTypeRoot;
import org.apache.flink.table.types.logical.RowType;

/**
 * The model's {@code OUTPUT (...)} columns, checked once when the model is planned, and the row of them each
 * input row gets: a prediction, or NULLs and the reason in {@code error} when the row could not be classified.
 * The user picks any of the columns in any order (docs/sql.md lists them with their types).
 */
final class PredictColumns implements Serializable {

    /** An output column the provider fills. */
    enum Kind {
        LABEL("STRING"), CLASS_INDEX("INT"), PROBABILITY("FLOAT"), TOP_K("ARRAY<ROW<label STRING, probability FLOAT>>"),
        MODEL_NAME("STRING"), MODEL_VERSION("INT"), ERROR("STRING");

        final String type;

        Kind(String type) {
            this.type = type;
        }

        String columnName() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** One row's outcome: its top classes with the version that scored them, or why there are none. */
    record Outcome(List<ClassScore> top, String modelName, long modelVersion, String error) {
        static Outcome failed(String error) {
            return new Outcome(null, null, 0, error);
        }
    }

    private final Kind[] kinds;
    private final LogicalType[] types;

    private PredictColumns(Kind[] kinds, LogicalType[] types) {
        this.kinds = kinds;
        this.types = types;
    }

    /** The output schema's columns, each a known name with a type it can hold. */
    static PredictColumns of(ResolvedSchema output) {
        List<Column> columns = output.getColumns();
        if (columns.isEmpty()) {
            throw new ValidationException("a crmn model needs at least one OUTPUT column: " + known());
        }
        Kind[] kinds = new Kind[columns.size()];
        LogicalType[] types = new LogicalType[columns.size()];
        for (int i = 0; i < columns.size(); i++) {
            Column c = columns.get(i);
            Kind k = Arrays.stream(Kind.values()).filter(x -> x.columnName().equalsIgnoreCase(c.getName()))
                    .findFirst().orElseThrow(() -> new ValidationException("OUTPUT column " + c.getName()
                            + " is not one a crmn model fills; choose from " + known()));
            LogicalType t = c.getDataType().getLogicalType();
            if (!fits(k, t)) {
                throw new ValidationException("OUTPUT column " + c.getName() + " must be " + k.type + " (is " + t + ")");
            }
            kinds[i] = k;
            types[i] = t;
        }
        return new PredictColumns(kinds, types);
    }

    private static String known() {
        List<String> s = new ArrayList<>();
        for (Kind k : Kind.values()) {
            s.add(k.columnName() + " " + k.type);
        }
        return String.join(", ", s);
    }

    private static boolean fits(Kind k, LogicalType t) {
        return switch (k) {
            case LABEL, MODEL_NAME, ERROR -> t.is(LogicalTypeFamily.CHARACTER_STRING);
            case CLASS_INDEX, MODEL_VERSION -> t.is(LogicalTypeRoot.INTEGER) || t.is(LogicalTypeRoot.BIGINT);
            case PROBABILITY -> t.is(LogicalTypeRoot.FLOAT) || t.is(LogicalTypeRoot.DOUBLE);
            case TOP_K -> t instanceof ArrayType a && a.getElementType() instanceof RowType r
                    && r.getFieldCount() == 2 && r.getTypeAt(0).is(LogicalTypeFamily.CHARACTER_STRING)
                    && (r.getTypeAt(1).is(LogicalTypeRoot.FLOAT) || r.getTypeAt(1).is(LogicalTypeRoot.DOUBLE));
        };
    }

    /** Whether the user asked for the error column (else a failed row's reason is only counted and logged). */
    boolean hasError() {
        return Arrays.asList(kinds).contains(Kind.ERROR);
    }

    /** The output row of one input row. */
    RowData row(Outcome o) {
        GenericRowData row = new GenericRowData(kinds.length);
        ClassScore best = o.top() == null ? null : o.top().get(0);
        for (int i = 0; i < kinds.length; i++) {
            Object v = switch (kinds[i]) {
                case LABEL -> best == null ? null : StringData.fromString(best.label());
                case CLASS_INDEX -> best == null ? null : integer(types[i], best.index());
                case PROBABILITY -> best == null ? null : real(types[i], best.probability());
                case TOP_K -> o.top() == null ? null : topK(o.top(), ((RowType) ((ArrayType) types[i]).getElementType()).getTypeAt(1));
                case MODEL_NAME -> o.modelName() == null ? null : StringData.fromString(o.modelName());
                case MODEL_VERSION -> o.modelName() == null ? null : integer(types[i], o.modelVersion());
                case ERROR -> o.error() == null ? null : StringData.fromString(o.error());
            };
            row.setField(i, v);
        }
        return row;
    }

    private static Object integer(LogicalType t, long v) {
        return t.is(LogicalTypeRoot.BIGINT) ? (Object) v : (Object) (int) v;
    }

    private static Object real(LogicalType t, float v) {
        return t.is(LogicalTypeRoot.DOUBLE) ? (Object) (double) v : (Object) v;
    }

    private static GenericArrayData topK(List<ClassScore> top, LogicalType probability) {
        Object[] rows = new Object[top.size()];
        for (int i = 0; i < rows.length; i++) {
            rows[i] = GenericRowData.of(StringData.fromString(top.get(i).label()), real(probability, top.get(i).probability()));
        }
        return new GenericArrayData(rows);
    }
}
