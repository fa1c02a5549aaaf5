// Signs one request with the AWS SDK for Java's stock SigV4 signer (AwsV4HttpSigner, no
// change, no subclass) and sends it; prints the status and the body. Used by
// tests/e2e/test_stock_sigv4.py: args = method url access_key secret_key region service [body]
import java.io.ByteArrayInputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

import software.amazon.awssdk.http.ContentStreamProvider;
import software.amazon.awssdk.http.SdkHttpMethod;
import software.amazon.awssdk.http.SdkHttpRequest;
import software.amazon.awssdk.http.auth.aws.signer.AwsV4HttpSigner;
import software.amazon.awssdk.http.auth.spi.signer.SignedRequest;
import software.amazon.awssdk.identity.spi.AwsCredentialsIdentity;

public final class SignAndSend {
    public static void main(String[] args) throws Exception {
        String method = args[0];
        URI uri = URI.create(args[1]);
        byte[] body = args.length > 6 ? args[6].getBytes(StandardCharsets.UTF_8) : new byte[0];
        SdkHttpRequest.Builder unsigned = SdkHttpRequest.builder()
            .method(SdkHttpMethod.fromValue(method)).uri(uri);
        if (body.length > 0) {
            unsigned.putHeader("Content-Type", "application/json");
        }
        SignedRequest signed = AwsV4HttpSigner.create().sign(r -> r
            .identity(AwsCredentialsIdentity.create(args[2], args[3]))
            .request(unsigned.build())
            .payload(ContentStreamProvider.fromByteArray(body))
            .putProperty(AwsV4HttpSigner.REGION_NAME, args[4])
            .putProperty(AwsV4HttpSigner.SERVICE_SIGNING_NAME, args[5]));
        HttpRequest.Builder wire = HttpRequest.newBuilder(signed.request().getUri())
            .method(method, body.length > 0 ? HttpRequest.BodyPublishers.ofByteArray(body)
                                            : HttpRequest.BodyPublishers.noBody());
        for (Map.Entry<String, List<String>> header : signed.request().headers().entrySet()) {
            if (!header.getKey().equalsIgnoreCase("host")) {  // the client sets Host itself
                for (String value : header.getValue()) {
                    wire.header(header.getKey(), value);
                }
            }
        }
        // HTTP/1.1: the default (HTTP/2) asks a plain-http server to upgrade (h2c), and
        // uvicorn, which does not speak h2c, reads no body on such a request
        HttpResponse<String> response = HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1).build()
            .send(wire.build(), HttpResponse.BodyHandlers.ofString());
        System.out.println(response.statusCode());
        System.out.println(response.body());
    }
}
