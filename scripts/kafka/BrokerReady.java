// Waits until every given Kafka broker answers a request addressed to it (DescribeLogDirs goes to that
// broker itself, so a restarted node counts only once its new process serves requests); exit 0 when
// they all do, 1 after the timeout. The system property carebus.client.config names a properties file of
// extra client settings (security). Used by scripts/services.
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.DescribeLogDirsOptions;

public final class BrokerReady {
    public static void main(String[] args) throws InterruptedException {
        if (args.length < 3) {
            System.err.println("usage: BrokerReady <bootstrap> <timeout-seconds> <node-id>...");
            System.exit(2);
        }
        String bootstrap = args[0];
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(Long.parseLong(args[1]));
        List<Integer> nodeIds = new ArrayList<>();
        for (int i = 2; i < args.length; i++) {
            nodeIds.add(Integer.valueOf(args[i]));
        }

        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "3000");
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "3000");
        props.put(AdminClientConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, "500");
        String extra = System.getProperty("carebus.client.config", "");
        if (!extra.isEmpty()) {
            try (java.io.FileReader reader = new java.io.FileReader(extra)) {
                props.load(reader);
            } catch (java.io.IOException e) {
                System.err.println("cannot read client settings " + extra + ": " + e.getMessage());
                System.exit(2);
            }
        }
        String last = "no answer yet";
        try (Admin admin = Admin.create(props)) {
            while (System.nanoTime() < deadline) {
                try {
                    admin.describeLogDirs(nodeIds, new DescribeLogDirsOptions().timeoutMs(3000))
                            .allDescriptions().get(4, TimeUnit.SECONDS);
                    System.out.println("brokers " + nodeIds + " answer at " + bootstrap);
                    return;
                } catch (Exception e) {
                    last = e.getClass().getSimpleName() + ": " + e.getMessage();
                }
                Thread.sleep(500);
            }
        }
        System.err.println("Kafka brokers " + nodeIds + " at " + bootstrap + " not ready: " + last);
        System.exit(1);
    }
}
