// MirrorMaker 2's own client code, run against what kmirror (or MM2) wrote: used by the tests
// and benches/compare.sh through scripts/kafka/mm2-tools.sh, which compiles this file against
// the installed connect-mirror and connect-mirror-client jars.
//
//   translate BOOTSTRAP SOURCE_ALIAS GROUP
//       RemoteClusterUtils.translateOffsets on the cluster at BOOTSTRAP (where the checkpoints
//       of SOURCE_ALIAS are): one line "topic partition offset" per translated partition,
//       sorted.
//   format BOOTSTRAP TOPIC checkpoint|heartbeat|offset-sync COUNT TIMEOUT_MS
//       reads partition 0 of TOPIC from the beginning and prints the first COUNT records as
//       MM2's formatter (org.apache.kafka.connect.mirror.formatters.*) shows them, one per line.

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.MessageFormatter;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.connect.mirror.RemoteClusterUtils;
import org.apache.kafka.connect.mirror.formatters.CheckpointFormatter;
import org.apache.kafka.connect.mirror.formatters.HeartbeatFormatter;
import org.apache.kafka.connect.mirror.formatters.OffsetSyncFormatter;

public final class Mm2Tools {
    public static void main(String[] args) throws Exception {
        if (args.length == 4 && args[0].equals("translate")) {
            translate(args[1], args[2], args[3]);
        } else if (args.length == 6 && args[0].equals("format")) {
            format(args[1], args[2], args[3], Integer.parseInt(args[4]), Long.parseLong(args[5]));
        } else {
            System.err.println("usage: translate BOOTSTRAP SOURCE_ALIAS GROUP | format BOOTSTRAP TOPIC KIND COUNT TIMEOUT_MS");
            System.exit(2);
        }
    }

    static void translate(String bootstrap, String sourceAlias, String group) throws Exception {
        Map<String, Object> props = new HashMap<>();
        props.put("bootstrap.servers", bootstrap);
        Map<TopicPartition, OffsetAndMetadata> translated =
                RemoteClusterUtils.translateOffsets(props, sourceAlias, group, Duration.ofSeconds(30));
        List<String> lines = new ArrayList<>();
        for (Map.Entry<TopicPartition, OffsetAndMetadata> e : translated.entrySet()) {
            lines.add(e.getKey().topic() + " " + e.getKey().partition() + " " + e.getValue().offset());
        }
        lines.sort(null);
        for (String line : lines) {
            System.out.println(line);
        }
    }

    static void format(String bootstrap, String topic, String kind, int count, long timeoutMs) {
        MessageFormatter formatter;
        switch (kind) {
            case "checkpoint": formatter = new CheckpointFormatter(); break;
            case "heartbeat": formatter = new HeartbeatFormatter(); break;
            case "offset-sync": formatter = new OffsetSyncFormatter(); break;
            default: throw new IllegalArgumentException("unknown kind " + kind);
        }
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        props.put("enable.auto.commit", "false");
        try (KafkaConsumer<byte[], byte[]> consumer =
                     new KafkaConsumer<>(props, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            TopicPartition tp = new TopicPartition(topic, 0);
            consumer.assign(List.of(tp));
            consumer.seekToBeginning(List.of(tp));
            int seen = 0;
            long deadline = System.currentTimeMillis() + timeoutMs;
            while (seen < count && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                    if (seen == count) {
                        break;
                    }
                    ByteArrayOutputStream out = new ByteArrayOutputStream();
                    PrintStream ps = new PrintStream(out, true, StandardCharsets.UTF_8);
                    formatter.writeTo(r, ps);
                    ps.flush();
                    System.out.println(out.toString(StandardCharsets.UTF_8).trim());
                    seen++;
                }
            }
            if (seen < count) {
                System.err.println("only " + seen + " of " + count + " records within " + timeoutMs + " ms");
                System.exit(1);
            }
        }
    }
}
