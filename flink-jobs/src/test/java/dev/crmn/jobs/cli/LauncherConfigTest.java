package dev.crmn.jobs.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;

/** The launcher's logging configuration (outside the jar, so no build step would notice it broken). */
class LauncherConfigTest {

    @Test
    void theLaunchersLog4jConfigurationParsesAndQuietsKafka() throws Exception {
        Path xml = Path.of("src/launcher/log4j2.xml");
        assertThat(Files.readString(Path.of("../crmn"))).contains("flink-jobs/src/launcher/log4j2.xml");
        var doc = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(xml.toFile());
        var loggers = doc.getElementsByTagName("Logger");
        boolean kafkaAtError = false;
        for (int i = 0; i < loggers.getLength(); i++) {
            var l = (org.w3c.dom.Element) loggers.item(i);
            kafkaAtError |= l.getAttribute("name").equals("org.apache.kafka") && l.getAttribute("level").equals("ERROR");
        }
        assertThat(kafkaAtError).isTrue();
    }
}
