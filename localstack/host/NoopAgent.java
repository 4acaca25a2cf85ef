package paygate.localstack;

import java.lang.instrument.Instrumentation;

/**
 * A Java agent that does nothing.
 *
 * LocalStack starts DynamoDB Local with {@code -javaagent:<dir>/ddb-local-loader-0.1.jar}, an agent it
 * normally downloads (it patches DynamoDB Local to allow more than 20 global secondary indexes). Host
 * mode here has no network beyond the package registries, so localstack/setup-host.sh compiles this
 * class into a jar of that name instead: the JVM starts, and DynamoDB Local keeps its own limits.
 */
public final class NoopAgent {
    private NoopAgent() {
    }

    public static void premain(String args, Instrumentation instrumentation) {
    }

    public static void agentmain(String args, Instrumentation instrumentation) {
    }
}
