// Waits until a Kafka cluster answers metadata requests with at least N live brokers (optionally one
// given node id among them); exit 0 when it does, 1 after the timeout. Used by scripts/services.
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.DescribeClusterOptions;
import org.apache.kafka.common.Node;

public final class BrokerReady {
    public static void main(String[] args) throws InterruptedException {
        if (args.length < 3) {
            System.err.println("usage: BrokerReady <bootstrap> <min-brokers> <timeout-seconds> [node-id]");
            System.exit(2);
        }
        String bootstrap = args[0];
        int minBrokers = Integer.parseInt(args[1]);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(Long.parseLong(args[2]));
        Integer nodeId = args.length > 3 ? Integer.valueOf(args[3]) : null;

        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "3000");
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "3000");
        props.put(AdminClientConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, "500");
        String last = "no answer yet";
        try (Admin admin = Admin.create(props)) {
            while (System.nanoTime() < deadline) {
                try {
                    Set<Integer> ids = admin.describeCluster(new DescribeClusterOptions().timeoutMs(3000))
                            .nodes().get(4, TimeUnit.SECONDS).stream().map(Node::id).collect(Collectors.toSet());
                    if (ids.size() >= minBrokers && (nodeId == null || ids.contains(nodeId))) {
                        System.out.println("brokers " + ids + " answer at " + bootstrap);
                        return;
                    }
                    last = "live brokers " + ids;
                } catch (Exception e) {
                    last = e.getClass().getSimpleName() + ": " + e.getMessage();
                }
                Thread.sleep(500);
            }
        }
        System.err.println("Kafka at " + bootstrap + " not ready: " + last);
        System.exit(1);
    }
}
