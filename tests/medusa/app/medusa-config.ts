import { defineConfig } from "@medusajs/framework/utils"

// Everything comes from the environment the test fixture sets, so one
// install serves every test session (each with its own database and port).
module.exports = defineConfig({
  projectConfig: {
    databaseUrl: process.env.DATABASE_URL,
    http: {
      storeCors: process.env.STORE_CORS || "http://localhost",
      adminCors: process.env.ADMIN_CORS || "http://localhost",
      authCors: process.env.AUTH_CORS || "http://localhost",
      jwtSecret: process.env.JWT_SECRET || "supersecret",
      cookieSecret: process.env.COOKIE_SECRET || "supersecret",
    },
  },
  admin: {
    disable: true,
  },
})
