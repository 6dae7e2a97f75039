package dev.crmn.jobs.sql;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class SqlScriptTest {

    @Test
    void statementsAreSplitAtSemicolonsOutsideQuotesAndComments() {
        String script = """
                -- a comment; with a semicolon
                CREATE TABLE t (a STRING) WITH ('k' = 'v;w', 'q' = 'it''s; fine');
                /* a block; comment */ SELECT `odd;name` FROM t;
                INSERT INTO s SELECT "x;y" FROM t
                """;
        List<String> s = SqlScript.statements(script, Map.of());
        assertThat(s).hasSize(3);
        assertThat(s.get(0)).startsWith("CREATE TABLE t").contains("'v;w'").contains("'it''s; fine'");
        assertThat(s.get(1)).isEqualTo("SELECT `odd;name` FROM t");
        assertThat(s.get(2)).isEqualTo("INSERT INTO s SELECT \"x;y\" FROM t");
    }

    @Test
    void aStatementSetStaysOneStatement() {
        List<String> s = SqlScript.statements("""
                CREATE VIEW v AS SELECT 1;
                EXECUTE STATEMENT SET
                BEGIN
                  INSERT INTO a SELECT * FROM v;
                  INSERT INTO b SELECT * FROM v;
                END;
                SHOW TABLES;
                """, Map.of());
        assertThat(s).hasSize(3);
        assertThat(s.get(1)).startsWith("EXECUTE STATEMENT SET").contains("INSERT INTO a SELECT * FROM v;")
                .contains("INSERT INTO b SELECT * FROM v;").endsWith("END");
        assertThat(s.get(2)).isEqualTo("SHOW TABLES");
        assertThatThrownBy(() -> SqlScript.statements("EXECUTE STATEMENT SET BEGIN INSERT INTO a SELECT 1;", Map.of()))
                .hasMessageContaining("has no END");
    }

    @Test
    void placeholdersAreFilledInAndUnclosedQuotesOrCommentsAreSaid() {
        assertThat(SqlScript.statements("SELECT '${bootstrap-servers}', '${other}'", Map.of("bootstrap-servers", "h:1")))
                .containsExactly("SELECT 'h:1', '${other}'");
        assertThatThrownBy(() -> SqlScript.statements("SELECT 'open", Map.of())).hasMessageContaining("never closed");
        assertThatThrownBy(() -> SqlScript.statements("SELECT 1 /* open", Map.of())).hasMessageContaining("never closed");
        assertThat(SqlScript.statements(" ; -- nothing\n ;", Map.of())).isEmpty();
    }

    @Test
    void setAndResetAreReadAsTheSqlClientWritesThem() {
        assertThat(SqlScript.setting("SET 'table.exec.async-ml-predict.max-concurrent-operations' = '128'"))
                .contains(new SqlScript.Setting("table.exec.async-ml-predict.max-concurrent-operations", "128"));
        assertThat(SqlScript.setting("set\n 'pipeline.name'='it''s mine'")).contains(new SqlScript.Setting("pipeline.name", "it's mine"));
        assertThat(SqlScript.setting("RESET 'pipeline.name'")).contains(new SqlScript.Setting("pipeline.name", null));
        assertThat(SqlScript.setting("SELECT 'SET'")).isEmpty();
        assertThat(SqlScript.setting("SETTINGS_TABLE")).isEmpty();
        assertThatThrownBy(() -> SqlScript.setting("SET pipeline.name = x")).hasMessageContaining("SET 'key' = 'value'");
        assertThatThrownBy(() -> SqlScript.setting("SET")).hasMessageContaining("SET 'key' = 'value'");
    }
}
