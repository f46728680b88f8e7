// Reads a running JVM's MBeans for the saga benchmark: the broker's request counts, Debezium's
// binlog events seen. It attaches to the process (the JDK's Attach API: no JMX port, no agent,
// nothing to configure in the JVM beforehand, so it reads a stack of any commit alike).
//
//   java JmxProbe.java PID 'OBJECT-NAME-PATTERN=ATTRIBUTE[,ATTRIBUTE]' ...
//
// Then each line read on stdin prints one JSON object on stdout, {"<object name>|<attribute>":
// number}, for every MBean the patterns match now; end of input ends it.

import com.sun.tools.attach.VirtualMachine;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.util.ArrayList;
import java.util.List;
import javax.management.MBeanServerConnection;
import javax.management.ObjectName;
import javax.management.remote.JMXConnector;
import javax.management.remote.JMXConnectorFactory;
import javax.management.remote.JMXServiceURL;

public class JmxProbe {
    record Query(ObjectName pattern, String[] attributes) {}

    public static void main(String[] args) throws Exception {
        VirtualMachine vm = VirtualMachine.attach(args[0]);
        String address = vm.startLocalManagementAgent();
        vm.detach();
        List<Query> queries = new ArrayList<>();
        for (int i = 1; i < args.length; i++) {
            int equals = args[i].lastIndexOf('=');
            queries.add(new Query(new ObjectName(args[i].substring(0, equals)), args[i].substring(equals + 1).split(",")));
        }
        try (JMXConnector connector = JMXConnectorFactory.connect(new JMXServiceURL(address))) {
            MBeanServerConnection server = connector.getMBeanServerConnection();
            BufferedReader input = new BufferedReader(new InputStreamReader(System.in));
            while (input.readLine() != null) {
                StringBuilder out = new StringBuilder("{");
                for (Query query : queries) {
                    for (ObjectName name : server.queryNames(query.pattern(), null)) {
                        for (String attribute : query.attributes()) {
                            Object value;
                            try {
                                value = server.getAttribute(name, attribute);
                            } catch (Exception missing) {
                                continue;
                            }
                            if (!(value instanceof Number number)) {
                                continue;
                            }
                            if (out.length() > 1) {
                                out.append(',');
                            }
                            String key = (name + "|" + attribute).replace("\\", "\\\\").replace("\"", "\\\"");
                            out.append('"').append(key).append("\":").append(number.doubleValue());
                        }
                    }
                }
                System.out.println(out.append('}'));
                System.out.flush();
            }
        }
    }
}
