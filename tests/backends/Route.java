// The Tomcat backend of the oracle suite (tests/backends/main.rs): one
// servlet class, mapped in WEB-INF/web.xml twice, as `/admin` and
// `/admin/*` (init-param route=admin) and as the default servlet `/`
// (route=other). It answers the route and the path Tomcat resolved
// (servlet path + path info: `;params` stripped, dot segments removed),
// and sets the request attribute `route`, which the access-log valve
// writes beside the request's `x-oracle` header.

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;

public class Route extends HttpServlet {
    @Override
    protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        String route = getInitParameter("route");
        String info = req.getPathInfo();
        String path = req.getServletPath() + (info == null ? "" : info);
        req.setAttribute("route", route);
        req.setAttribute("path", path);
        resp.setContentType("text/plain");
        resp.getWriter().print("route=" + route + " path=" + path + "\n");
    }
}
